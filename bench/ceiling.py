"""The device's matmul ceiling per precision, measured once per run (rule 8)."""

from __future__ import annotations

import torch

from bench.config import CEILING_MATMUL_SIZE, TimingRules
from bench.timing import Clock, measure_rounds, summarize, time_round, warm_until_steady
from bench.workload import set_tf32

# The dtype a case's precision does its matmuls in.
CEILING_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "amp-bf16": torch.bfloat16,
                  "amp-fp16": torch.float16}
CEILING_RULES = TimingRules(rounds=5, warmup_max_s=2.0)


def matmul_tflops(device: str, precision: str, clock: Clock, size: int | None = None) -> float:
    """Achieved TFLOP/s of a square matmul in ``precision``'s dtype."""
    n = size or CEILING_MATMUL_SIZE[torch.device(device).type]
    dtype = CEILING_DTYPES[precision]
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    out = torch.empty(n, n, device=device, dtype=dtype)
    set_tf32(precision == "tf32")
    try:
        def step():
            torch.mm(a, b, out=out)

        first = time_round(step, 1, clock)
        _, step_s = warm_until_steady(step, clock, CEILING_RULES, first)
        steps = max(1, round(CEILING_RULES.min_round_s / step_s)) if step_s > 0 else 1
        median = summarize(measure_rounds(step, clock, CEILING_RULES, steps), steps, CEILING_RULES).median_s
    finally:
        set_tf32(False)
    return 2 * n**3 / median / 1e12
