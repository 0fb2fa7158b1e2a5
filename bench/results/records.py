"""The records of a measurement: one run (a fresh process measuring one case) and one case (its runs).

Plain frozen dataclasses, no torch: a worker builds its RunRecord once, when the run is over (as
pyperf's worker builds its Run), the executor groups runs into a CaseRecord, and every reader asks
these records for numbers (throughput, spread, compile time, latency) instead of reading JSON keys
or computing its own. bench/results/report.py writes and reads them.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import statistics
from typing import Any

from bench.config import MAX_TIME_S, TimingRules
from bench.results.cases import Case
from bench.results.micro import MicroDetail
from envcheck.load import CpuLoad, GpuLoad

MIN_CLEAN_RUNS = 2  # quiet runs a case needs before noisy ones are set aside


class Status(str, enum.Enum):
    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"
    OOM = "oom"
    TIMEOUT = "timeout"
    CRASHED = "crashed"

    @property
    def broken(self) -> bool:
        """Measured nothing although it should have: the run (or validate) is not healthy."""
        return self not in (Status.OK, Status.SKIPPED)


MIN_TIME_S = 1e-9  # no round, call or step of a measurement is shorter than a nanosecond...
MAX_STEPS_PER_ROUND = 10**9
MAX_ITEMS_PER_STEP = 2**40


def _finite_positive(values: list[float], what: str) -> None:
    """Times a measurement can produce: finite, and between a nanosecond and the longest case timeout
    (1e308 s rounds made the comparison overflow; such a report is refused when it is read)."""
    for value in values:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{what} must be finite and > 0, got {value}")
        if not MIN_TIME_S <= value <= MAX_TIME_S:
            raise ValueError(f"{what} must be between {MIN_TIME_S:g} and {MAX_TIME_S:g} s, got {value:g}")


def _seconds(value: float, what: str) -> None:
    if not (math.isfinite(value) and 0 <= value <= MAX_TIME_S):
        raise ValueError(f"{what} must be in 0..{MAX_TIME_S:g} s, got {value}")


@dataclasses.dataclass(frozen=True)
class Workload:
    """What one step does; the same in every run of a case."""

    items_per_step: int  # samples (or tokens) one step processes on one process
    unit: str  # samples or tokens
    flops_per_step: int | None = None  # torch.utils.flop_counter, forward + backward
    params_trainable: int | None = None
    params_total: int | None = None
    optimizer: str | None = None  # None for inference
    notes: list[str] = dataclasses.field(default_factory=list)  # e.g. the LoRA rank and targets

    def __post_init__(self) -> None:
        if not 1 <= self.items_per_step <= MAX_ITEMS_PER_STEP:
            raise ValueError(f"items per step must be in 1..{MAX_ITEMS_PER_STEP}, got {self.items_per_step}")

    @property
    def trainable_fraction(self) -> float | None:
        if self.params_total and self.params_trainable is not None:
            return self.params_trainable / self.params_total
        return None


@dataclasses.dataclass(frozen=True)
class CompileInfo:
    seconds: float  # the first call of the compiled model
    cache: str  # cold: a fresh inductor cache; warm: an earlier run of this case filled it
    fxgraph_hits: int = 0
    fxgraph_misses: int = 0

    def __post_init__(self) -> None:
        _seconds(self.seconds, "compile seconds")


@dataclasses.dataclass(frozen=True)
class Warmup:
    rounds: int
    seconds: float
    steady: bool  # False: it ran into its cap (warmup_max_s) before the round times settled
    cap_s: float | None = None  # that cap; None in reports before it was recorded

    def __post_init__(self) -> None:
        _seconds(self.seconds, "warm-up seconds")


@dataclasses.dataclass(frozen=True)
class Noise:
    """What else used the machine during the timed rounds (docs/measurement.md, rule 11)."""

    cpu: CpuLoad | None = None
    gpu: GpuLoad | None = None
    reasons: list[str] = dataclasses.field(default_factory=list)  # empty: quiet
    # not noise: the GPU slowed itself down (thermal, hardware, power brake), which validate calls degraded
    hardware_findings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Generation:
    """A language model's inference: prefill of the prompt, then greedy decoding with a KV cache."""

    prompt_tokens: int
    new_tokens: int
    prefill_s: float  # median over calls
    decode_s: float  # median seconds for new_tokens - 1 decode steps
    cache: str  # dynamic, or static (compiled decode)

    def __post_init__(self) -> None:
        _finite_positive([self.prefill_s, self.decode_s], "prefill and decode times")


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One fresh process measuring one case."""

    index: int  # 0-based run number of the case
    status: Status
    reason: str | None = None
    duration_s: float | None = None  # the process's wall time, start-up and compile included
    steps_per_round: int | None = None
    round_s: list[float] = dataclasses.field(default_factory=list)  # raw round times
    warmup: Warmup | None = None
    compile: CompileInfo | None = None
    loss_start: float | None = None
    loss_end: float | None = None
    peak_memory_bytes: int | None = None
    memory_kind: str | None = None  # rss-peak (the whole CPU process) or cuda-max-allocated
    latency_s: list[float] = dataclasses.field(default_factory=list)  # inference: one call each
    generation: Generation | None = None
    rank_step_s: list[float] = dataclasses.field(default_factory=list)  # data-parallel: each rank's median
    allreduce: list[dict[str, float]] = dataclasses.field(default_factory=list)  # its collectives sweep, if any
    threads: int | None = None  # torch's intra-op threads
    workload: Workload | None = None
    noise: Noise | None = None
    micro: MicroDetail | None = None  # a micro-benchmark's curve, link, peer matrix or corruption check

    def __post_init__(self) -> None:
        _finite_positive(self.round_s, "round times")
        _finite_positive(self.latency_s, "latencies")
        _finite_positive(self.rank_step_s, "rank step times")
        if self.steps_per_round is not None and not 1 <= self.steps_per_round <= MAX_STEPS_PER_ROUND:
            raise ValueError(f"steps per round must be in 1..{MAX_STEPS_PER_ROUND}, got {self.steps_per_round}")
        if self.duration_s is not None:
            _seconds(self.duration_s, "duration_s")
        if self.status is Status.OK and not (self.round_s and self.steps_per_round and self.workload):
            raise ValueError("an ok run needs round times, steps per round and its workload")
        if self.status is not Status.OK and not self.reason:
            raise ValueError(f"a {self.status.value} run needs a reason")
        for name in ("loss_start", "loss_end"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be finite or null, got {value}")

    @property
    def step_s(self) -> float:
        """The run's median step time: its one sample at the level of replication."""
        return statistics.median(self.round_s) / self.steps_per_round

    @property
    def noisy(self) -> bool:
        return bool(self.noise and self.noise.reasons)

    @property
    def items_per_s(self) -> float | None:
        """This run's samples/s (tokens/s), all ranks together: each data-parallel rank steps its own batch."""
        if self.status is not Status.OK:
            return None
        if self.rank_step_s:
            return sum(self.workload.items_per_step / step for step in self.rank_step_s)
        return self.workload.items_per_step / self.step_s

    @property
    def hardware_findings(self) -> list[str]:
        return list(self.noise.hardware_findings) if self.noise else []



@dataclasses.dataclass(frozen=True)
class CaseRecord:
    """A case and its runs. ``summary`` is derived when written and ignored when read."""

    case: Case
    status: Status
    reason: str | None = None
    runs: list[RunRecord] = dataclasses.field(default_factory=list)
    precision_native: bool | None = None  # False: the precision was emulated (asked for explicitly)
    summary: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.status is Status.OK and not self.ok_runs:
            raise ValueError("an ok case needs at least one ok run")
        if self.status is not Status.OK and not self.reason:
            raise ValueError(f"a {self.status.value} case needs a reason")

    @classmethod
    def from_runs(cls, case: Case, runs: list[RunRecord], precision_native: bool | None = None) -> CaseRecord:
        """The case's status is its worst run's: one crash in three runs is not an ok case."""
        bad = next((run for run in runs if run.status is not Status.OK), None)
        if bad is None:
            return cls(case, Status.OK, None, runs, precision_native)
        where = f"run {bad.index + 1} of {len(runs)}: " if len(runs) > 1 else ""
        return cls(case, bad.status, where + (bad.reason or ""), runs, precision_native)

    @property
    def key(self) -> str:
        return self.case.key

    @property
    def ok_runs(self) -> list[RunRecord]:
        return [run for run in self.runs if run.status is Status.OK]

    @property
    def workload(self) -> Workload | None:
        """What a step does; FLOPs are counted in a case's first run only."""
        workloads = [run.workload for run in self.ok_runs]
        return next((w for w in workloads if w.flops_per_step is not None), workloads[0] if workloads else None)

    @property
    def clean_runs(self) -> list[RunRecord]:
        return [run for run in self.ok_runs if not run.noisy]

    @property
    def noisy(self) -> bool:
        """Too few runs measured on a quiet machine to judge by: most runs were noisy (rule 11)."""
        ok, clean = len(self.ok_runs), len(self.clean_runs)
        return ok > 0 and clean < ok and (clean * 2 <= ok or clean < MIN_CLEAN_RUNS)

    @property
    def measured_runs(self) -> list[RunRecord]:
        """The runs the case's figures come from: its quiet runs, unless the case is noisy."""
        return self.ok_runs if self.noisy else self.clean_runs

    @property
    def run_step_s(self) -> list[float]:
        return [run.step_s for run in self.measured_runs]

    @property
    def step_s(self) -> float | None:
        """Median over runs of each run's median step."""
        return statistics.median(self.run_step_s) if self.ok_runs else None

    @property
    def items_per_s(self) -> float | None:
        """samples/s (tokens/s for a language model) from the median step, all ranks together."""
        if self.step_s is None:
            return None
        runs = self.measured_runs
        if runs[0].rank_step_s:  # data-parallel: each rank steps its own batch
            return sum(self.workload.items_per_step / statistics.median([run.rank_step_s[r] for run in runs])
                       for r in range(len(runs[0].rank_step_s)))
        return self.workload.items_per_step / self.step_s

    @property
    def tflops(self) -> float | None:
        """Achieved TFLOP/s of one process's step (FLOPs counted forward + backward)."""
        workload = self.workload
        if workload is None or not workload.flops_per_step or not self.step_s:
            return None
        return workload.flops_per_step / self.step_s / 1e12

    @property
    def run_spread(self) -> float | None:
        """Between-run coefficient of variation of the step time (None with fewer than two runs)."""
        steps = self.run_step_s
        return statistics.stdev(steps) / statistics.fmean(steps) if len(steps) > 1 else None

    @property
    def noise_reasons(self) -> list[str]:
        return list(dict.fromkeys(r for run in self.runs if run.noise for r in run.noise.reasons))

    def unstable_runs(self, rules) -> list[RunRecord]:
        """Ok runs whose rounds vary by pyperf's rules (docs/measurement.md, rule 2): flagged, never failed."""
        return [run for run in self.ok_runs if unstable_reasons(run.round_s, rules)]

    @property
    def hardware_findings(self) -> list[str]:
        """What the hardware did wrong during the case's runs (not noise: validate calls the case degraded)."""
        return list(dict.fromkeys(f for run in self.runs for f in run.hardware_findings))

    @property
    def warmup_unsteady(self) -> bool:
        return any(run.warmup and not run.warmup.steady for run in self.ok_runs)

    def warmup_unsteady_note(self) -> str | None:
        """'warm-up did not settle within its 1 s cap in 2 of 5 runs', or None when every run settled."""
        unsteady = [run for run in self.ok_runs if run.warmup and not run.warmup.steady]
        if not unsteady:
            return None
        caps = sorted({run.warmup.cap_s for run in unsteady if run.warmup.cap_s is not None})
        within = f" within its {'/'.join(f'{cap:g}' for cap in caps)} s cap" if caps else ""
        return f"warm-up did not settle{within} in {len(unsteady)} of {len(self.ok_runs)} runs"

    def compile_s(self, cache: str) -> float | None:
        """Median compile time of the runs that compiled with a cold (or warm) inductor cache."""
        seconds = [run.compile.seconds for run in self.ok_runs if run.compile and run.compile.cache == cache]
        return statistics.median(seconds) if seconds else None

    @property
    def peak_memory(self) -> tuple[int, str] | None:
        peaks = [(run.peak_memory_bytes, run.memory_kind) for run in self.ok_runs if run.peak_memory_bytes]
        return max(peaks) if peaks else None

    def latency_percentiles(self) -> dict[str, float] | None:
        """p50/p90/p99 of single calls, pooled over runs (inference cases)."""
        calls = sorted(latency for run in self.ok_runs for latency in run.latency_s)
        return latency_percentiles(calls) if calls else None

    def generation_rates(self) -> tuple[float, float] | None:
        """(prefill tokens/s, decode tokens/s) of a language model's inference, medians over runs."""
        runs = [run for run in self.measured_runs if run.generation]
        if not runs:
            return None
        batch = self.case.batch_size
        first = runs[0].generation
        prefill = statistics.median(run.generation.prefill_s for run in runs)
        decode = statistics.median(run.generation.decode_s for run in runs)
        return batch * first.prompt_tokens / prefill, batch * (first.new_tokens - 1) / decode

    def loss(self) -> tuple[float, float] | None:
        run = next((r for r in self.ok_runs if r.loss_start is not None and r.loss_end is not None), None)
        return (run.loss_start, run.loss_end) if run else None


def unstable_reasons(values: list[float], rules: TimingRules) -> tuple[str, ...]:
    """pyperf's rules: std/mean >= 10 %, or min/max >= 50 % off the mean."""
    mean = statistics.fmean(values)
    reasons = []
    if len(values) > 1 and statistics.stdev(values) / mean >= rules.unstable_cv:
        reasons.append(f"std/mean {statistics.stdev(values) / mean:.0%} >= {rules.unstable_cv:.0%}")
    for label, value in (("min", min(values)), ("max", max(values))):
        if abs(value - mean) / mean >= rules.unstable_spread:
            reasons.append(f"{label} is {abs(value - mean) / mean:.0%} off the mean")
    return tuple(reasons)


def latency_percentiles(calls: list[float]) -> dict[str, float]:
    """Percentiles by linear interpolation between order statistics (numpy's default method)."""
    import numpy

    return {f"p{q}": float(numpy.percentile(calls, q)) for q in (50, 90, 99)}
