"""The measurement protocol of one run of one case (docs/measurement.md, rules 1-9).

build -> count FLOPs -> first call (compile, timed as compile_s) -> warm up until
steady -> calibrate K steps per round -> R timed rounds (with what else used the
machine) -> latency and generation for inference -> loss and memory.
Runs in a fresh worker process (bench/measure/worker.py) or a data-parallel rank.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import resource
import sys
import time
from collections.abc import Iterator

import torch

from bench.config import TimingRules
from bench.measure.jobs import Options
from bench.measure.timing import (
    Agree,
    Clock,
    DeviceClock,
    SlowedClock,
    alone,
    measure_rounds,
    steps_for,
    time_round,
    warm_until_steady,
)
from bench.measure.workloads import Step, build_step
from bench.results.records import CompileInfo, Noise, RunRecord, Status, Warmup, Workload
from envcheck.capabilities import PRECISIONS, tf32
from envcheck.load import CpuLoadMonitor, gpu_load, process_tree


def settle_compile_workers() -> None:
    """Start inductor's compile-worker pool now and wait until it is idle.

    Left alone, the pool's processes import torch inside the first compile: on a
    small machine that burst lands inside the case (seen here: 3x slower). Private
    API, so best effort: without it the pool starts inside compile_s.
    """
    try:
        from torch._inductor.async_compile import AsyncCompile, maybe_warm_pool

        maybe_warm_pool()
        AsyncCompile.wait_pool_ready(timeout=120)
    except Exception:  # noqa: BLE001 - an older or newer torch without these hooks
        pass


def device_clock(device: str) -> DeviceClock:
    return DeviceClock(torch.cuda.synchronize if device.startswith("cuda") else None)


def inductor_cache_counters() -> tuple[int, int]:
    from torch._dynamo.utils import counters

    return int(counters["inductor"]["fxgraph_cache_hit"]), int(counters["inductor"]["fxgraph_cache_miss"])


class NoiseMonitor:
    """Other processes' CPU use (and on CUDA the GPU's clocks, throttling and other users) meanwhile."""

    def __init__(self, device: str, own_pid: int | None = None) -> None:
        """``own_pid``: the root of the process tree being measured (a rank's torchrun agent: its sibling
        ranks are the measurement, not noise); this process by default. The whole tree is the run's own
        (inductor's compile workers too), on the CPU and on the GPU."""
        self.device = device
        self.own_pid = own_pid or os.getpid()
        self.cpu = CpuLoadMonitor(pid=self.own_pid)

    def start(self) -> None:
        self.cpu.start()

    def stop(self) -> Noise:
        cpu = self.cpu.stop()
        gpu = self.gpu_reading() if self.device.startswith("cuda") else None
        return Noise(cpu=cpu, gpu=gpu, reasons=cpu.busy_reasons() + (gpu.busy_reasons() if gpu else []),
                     hardware_findings=gpu.hardware_findings() if gpu else [])

    def gpu_reading(self):
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:  # noqa: BLE001 - no NVML: the GPU's state is unknown, not noisy
            return None
        try:
            return gpu_load(pynvml, torch.cuda.current_device(), process_tree(self.own_pid) | {os.getpid()},
                            own_memory_bytes=torch.cuda.memory_reserved())
        finally:
            pynvml.nvmlShutdown()


def peak_memory(device: str) -> tuple[int, str]:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(), "cuda-max-allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "rss-peak"


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A step brought up to its timed rounds: FLOPs counted, compiled, warm, calibrated. What the run's record
    will hold of that part; the record itself is built once, when the run is over (``finish``)."""

    index: int
    rules: TimingRules
    workload: Workload
    compile: CompileInfo | None
    warmup: Warmup
    threads: int
    loss_start: float | None
    steps: int  # K, steps per round
    started: float


def prepare(step: Step, rules: TimingRules, index: int, cache: str, clock: Clock, agree: Agree = alone) -> Prepared:
    """Everything before the timed rounds (rules 4 and 3); ``cache``: the inductor cache was cold or warm."""
    started = time.perf_counter()
    workload = step.workload()
    if index == 0:  # a property of the case, the same in every run; counting imports dynamo (1.5 s)
        workload = dataclasses.replace(workload, flops_per_step=step.count_flops())
    compiled = step.case.backend != "eager"
    hits, misses = inductor_cache_counters() if compiled else (0, 0)
    first_s = time_round(step, 1, clock)  # compile happens here
    compile_info = None
    if compiled:
        after_hits, after_misses = inductor_cache_counters()
        compile_info = CompileInfo(round(first_s, 4), cache, after_hits - hits, after_misses - misses)
    loss_start = step.loss_value()
    second_s = time_round(step, 1, clock)
    warmup, step_s = warm_until_steady(step, clock, rules, second_s, agree)
    _, steps = agree(True, steps_for(step_s, rules.min_round_s))
    return Prepared(index, rules, workload, compile_info, Warmup(warmup.rounds, round(warmup.seconds, 4),
                                                                 warmup.steady, warmup.cap_s),
                    torch.get_num_threads(), loss_start, steps, started)


def finish(step: Step, prepared: Prepared, round_s: list[float], noise: Noise | None, clock: Clock) -> RunRecord:
    """The timed rounds recorded, then latency and generation for inference, loss and memory (rule 7)."""
    case = step.case
    latency_s, generation = [], None
    if case.mode == "infer":
        from bench.measure.workloads.infer import measure_generation, measure_latency

        latency_s = measure_latency(step, clock, prepared.rules.latency_calls, prepared.rules.latency_max_s)
        if step.spec.kind == "causal-lm":
            generation = measure_generation(step, clock)
    loss_end = step.loss_value()
    step.close()
    peak, memory_kind = peak_memory(case.device)
    status, reason, loss_start, loss_end = judge_losses(prepared.loss_start, loss_end)
    return RunRecord(prepared.index, status, reason, duration_s=round(time.perf_counter() - prepared.started, 4),
                     steps_per_round=prepared.steps, round_s=list(round_s), warmup=prepared.warmup,
                     compile=prepared.compile, loss_start=loss_start, loss_end=loss_end, peak_memory_bytes=peak,
                     memory_kind=memory_kind, latency_s=latency_s, generation=generation, threads=prepared.threads,
                     workload=prepared.workload, noise=noise)


def measure_run(step: Step, rules: TimingRules, index: int, cache: str, clock: Clock | None = None,
                agree: Agree = alone, own_pid: int | None = None) -> RunRecord:
    """One run: prepare, R timed rounds with what else used the machine meanwhile, finish."""
    clock = clock or device_clock(step.case.device)
    prepared = prepare(step, rules, index, cache, clock, agree)
    monitor = NoiseMonitor(step.case.device, own_pid)
    monitor.start()
    round_s = measure_rounds(step, clock, rules, prepared.steps)
    return finish(step, prepared, round_s, monitor.stop(), clock)


def judge_losses(start: float | None, end: float | None) -> tuple[Status, str | None, float | None, float | None]:
    """(status, reason, loss_start, loss_end): a non-finite loss fails the run (rule 7) and is stored as null."""
    status, reason = Status.OK, None
    for label, loss in (("start", start), ("end", end)):
        if loss is not None and not math.isfinite(loss):
            status, reason = Status.FAILED, f"non-finite loss at the {label} of the run ({loss})"
    finite = [loss if loss is not None and math.isfinite(loss) else None for loss in (start, end)]
    return status, reason, finite[0], finite[1]


def with_losses(record: RunRecord, start: float | None, end: float | None) -> RunRecord:
    """``record`` with these losses, failed if one is not finite (a test's injected 'nan' fault)."""
    status, reason, start, end = judge_losses(start, end)
    if status is Status.OK:
        return dataclasses.replace(record, loss_start=start, loss_end=end)
    return dataclasses.replace(record, status=status, reason=reason, loss_start=start, loss_end=end)


@contextlib.contextmanager
def isolated(case) -> Iterator[None]:
    """What a case needs around it in its process: no graphs carried over (rule 5), the compile
    pool settled before compile_s is timed, peak memory from zero, TF32 as the precision says."""
    if case.backend != "eager":
        settle_compile_workers()
    if "torch._dynamo" in sys.modules:  # importing dynamo costs a second: a fresh eager worker has no graphs
        torch._dynamo.reset()
    if case.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tf32(PRECISIONS[case.precision].tf32):
        yield


@contextlib.contextmanager
def prepared_step(case, rules: TimingRules, options: Options) -> Iterator[tuple[Step, DeviceClock, Prepared]]:
    """A step of ``case`` built, compiled, warm and calibrated in this process, for the front ends that time its
    rounds their own way: pytest-benchmark (bench/test_bench.py), the harness-overhead check and the GPU
    proof's CUDA events."""
    with isolated(case):
        step = build_step(case, options)
        clock = device_clock(case.device)
        yield step, clock, prepare(step, rules, 0, "unknown", clock)


def run_case(case, rules: TimingRules, options: Options, index: int = 0, cache: str = "cold",
             wrap=None, agree: Agree = alone, own_pid: int | None = None, slowdown: float = 0.0) -> RunRecord:
    """Build and measure one run of ``case`` in this process (the worker's and each rank's job); ``slowdown``:
    the test-only fault that makes every step that fraction slower (timing.SlowedClock)."""
    clock = SlowedClock(device_clock(case.device), slowdown) if slowdown > 0 else None
    with isolated(case):
        return measure_run(build_step(case, options, wrap), rules, index, cache, clock, agree=agree,
                           own_pid=own_pid)
