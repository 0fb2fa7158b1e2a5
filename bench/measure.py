"""The measurement protocol of one case (DESIGN.md, measurement rules 1-9).

build -> count FLOPs -> first call (compile, timed as compile_s) -> warm up until
steady -> calibrate K steps per round -> R timed rounds -> read loss and memory.
Shared by `python -m bench run` (worker processes) and the pytest-benchmark cases.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import psutil
import torch

from bench.cases import Case
from bench.config import TimingRules
from bench.result import CaseResult
from bench.timing import Agree, Clock, DeviceClock, alone, measure_rounds, steps_for, time_round, warm_until_steady
from bench.workload import LoaderTrainStep, TrainStep


def settle_compile_workers() -> None:
    """Start inductor's compile-worker pool now and wait until it is idle.

    Left alone, the first torch import of dynamo's inductor backend spawns the
    pool, whose processes import torch for seconds: on a small machine that burst
    lands inside whichever case runs first (seen here: the first case 3x slower).
    Private API, so best effort: without it the pool starts inside compile_s.
    """
    try:
        from torch._inductor.async_compile import AsyncCompile, maybe_warm_pool

        maybe_warm_pool()
        AsyncCompile.wait_pool_ready(timeout=120)
    except Exception:  # noqa: BLE001 - an older or newer torch without these hooks
        pass


def device_clock(device: str) -> DeviceClock:
    return DeviceClock(torch.cuda.synchronize if device.startswith("cuda") else None)


def inductor_cache_counters() -> dict[str, int]:
    from torch._dynamo.utils import counters

    inductor = counters["inductor"]
    return {"fxgraph_hits": int(inductor["fxgraph_cache_hit"]),
            "fxgraph_misses": int(inductor["fxgraph_cache_miss"])}


class CaseRun:
    """One case, prepared up to the timed rounds; whoever times the rounds calls ``finish``."""

    def __init__(self, case: Case, rules: TimingRules, checkpoint: Path | None = None,
                 clock: Clock | None = None, data=None, workers: int = 0, wrap=None,
                 agree: Agree = alone) -> None:
        self.case = case
        self.rules = rules
        self.clock = clock or device_clock(case.device)
        self.started = time.perf_counter()
        torch._dynamo.reset()  # isolate cases: no graphs or guards carried over (rule 5)
        if case.device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        self.agree = agree
        self.step = (TrainStep(case, checkpoint, wrap) if data is None
                     else LoaderTrainStep(case, data, workers, checkpoint, wrap))
        self.result = CaseResult(case, "ok", params_trainable=self.step.parameters.trainable,
                                 params_total=self.step.parameters.total,
                                 grad_scaler_syncs=self.step.scaler is not None)

    def prepare(self) -> int:
        """Everything before the timed rounds; returns K, the steps per round."""
        result = self.result
        result.flops_per_step = self.step.count_flops()
        compiled = self.case.backend != "eager"
        before = inductor_cache_counters() if compiled else None
        first_s = time_round(self.step, 1, self.clock)  # compile happens here
        if compiled:
            after = inductor_cache_counters()
            result.compile_s = first_s
            result.compile_cache = {key: after[key] - before[key] for key in after}
        result.loss_start = self.step.loss_value()
        second_s = time_round(self.step, 1, self.clock)
        warmup, step_s = warm_until_steady(self.step, self.clock, self.rules, second_s, self.agree)
        result.warmup_rounds, result.warmup_s, result.warmup_steady = (
            warmup.rounds, round(warmup.seconds, 4), warmup.steady)
        _, result.steps_per_round = self.agree(True, steps_for(step_s, self.rules.min_round_s))
        return result.steps_per_round

    def finish(self, round_s: list[float]) -> CaseResult:
        """Record the raw rounds, final loss and memory; a non-finite loss fails the case."""
        result = self.result
        result.round_s = list(round_s)
        result.loss_end = self.step.loss_value()
        self.step.close()
        if self.case.device.startswith("cuda"):
            result.peak_memory_bytes, result.memory_kind = torch.cuda.max_memory_allocated(), "cuda_max_allocated"
        else:
            result.peak_memory_bytes, result.memory_kind = psutil.Process().memory_info().rss, "rss"
        for label, loss in (("start", result.loss_start), ("end", result.loss_end)):
            if not math.isfinite(loss):
                result.status, result.reason = "failed", f"non-finite loss at the {label} of the case ({loss})"
        result.duration_s = round(time.perf_counter() - self.started, 4)
        return result


def measure_case(case: Case, rules: TimingRules, checkpoint: Path | None = None,
                 clock: Clock | None = None, data=None, workers: int = 0) -> CaseResult:
    run = CaseRun(case, rules, checkpoint, clock, data, workers)
    steps = run.prepare()
    return run.finish(measure_rounds(run.step, run.clock, rules, steps))

