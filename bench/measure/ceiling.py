"""The device's matmul ceiling per precision (docs/measurement.md, rule 8), measured properly (in a worker).

A single 1024^3 matmul reached ~68 % of the same CPU's 4096^3 rate and moved +-25 % from
run to run, so MFU could exceed 100 %. Here the size grows until the rate stops growing
(or one matmul takes too long: an emulated bf16 4096^3 would take minutes), each size
keeps its best round. The parent caches the result per hardware fingerprint and torch version
(bench/results/ceilings.py), so that a run does not pay for it again.
"""

from __future__ import annotations

from bench.config import TimingRules
from bench.results.ceilings import Ceilings

SIZES = {"cpu": (256, 512, 1024, 2048, 4096), "cuda": (2048, 4096, 8192, 16384)}
GROWTH = 1.03  # a size less than 3 % faster than the previous one: the rate has stopped growing
MAX_MATMUL_S = 0.5
RULES = TimingRules(min_round_s=0.1, rounds=5, warmup_max_s=1.0)


def matmul_tflops(device: str, precision: str, n: int) -> tuple[float, float]:
    """(best TFLOP/s over the timed rounds, seconds of one matmul) of an n x n x n matmul."""
    import torch

    from bench.measure.protocol import device_clock
    from bench.measure.timing import measure_rounds, steps_for, time_round, warm_until_steady
    from envcheck.capabilities import PRECISIONS, tf32, torch_dtype

    clock = device_clock(device)
    dtype = torch_dtype(torch, precision)
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    out = torch.empty(n, n, device=device, dtype=dtype)

    def step():
        torch.mm(a, b, out=out)

    with tf32(PRECISIONS[precision].tf32):
        first = time_round(step, 1, clock)
        if first > MAX_MATMUL_S:
            return 2 * n**3 / first / 1e12, first
        _, step_s = warm_until_steady(step, clock, RULES, first)
        steps = steps_for(step_s, RULES.min_round_s)
        best = min(measure_rounds(step, clock, RULES, steps)) / steps
    return 2 * n**3 / best / 1e12, best


def measure_ceilings(device: str, precisions: tuple[str, ...] | list[str]) -> Ceilings:
    """Grow the matmul until its rate stops growing; keep the best rate per precision."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    tflops, sizes, unmeasured = {}, {}, {}
    for precision in precisions:
        try:
            best = previous = 0.0
            for n in SIZES[kind]:
                rate, seconds = matmul_tflops(device, precision, n)
                if rate > best:
                    best, sizes[precision] = rate, n
                if rate < previous * GROWTH or seconds > MAX_MATMUL_S:
                    break
                previous = rate
            tflops[precision] = round(best, 4)
        except Exception as error:  # noqa: BLE001 - an unmeasured ceiling costs MFU, not the run
            from envcheck.records import first_line

            unmeasured[precision] = first_line(error)
    return Ceilings(device, tflops, unmeasured, "measured", sizes)
