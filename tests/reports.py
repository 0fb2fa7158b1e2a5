"""Synthetic reports with known answers, on a stored environment (no live snapshot)."""

from __future__ import annotations

import datetime
import json
import random

from bench.config import TimingRules
from bench.results.cases import Case
from bench.results.ceilings import Ceilings
from bench.results.records import CaseRecord, CompileInfo, Noise, RunRecord, Status, Warmup, Workload
from bench.results.report import Invocation, Report, Setup
from envcheck.codec import from_jsonable
from envcheck.load import CpuLoad
from envcheck.report import Environment
from tests.conftest import FIXTURES

ENVIRONMENT: Environment = from_jsonable(Environment, json.loads((FIXTURES / "environment.json").read_text()))
STEPS = 100
BUSY = CpuLoad(seconds=1.0, other_cpu_cores=1.0, steal_cores=0.0, load_1m=2.0, cpu_mhz=None, governor=None)
QUIET = CpuLoad(seconds=1.0, other_cpu_cores=0.01, steal_cores=0.0, load_1m=0.1, cpu_mhz=None, governor=None)


def case(**fields) -> Case:
    return Case(**{"model": "cnn", "mode": "train", "backend": "eager", "precision": "fp32", "batch_size": 64,
                   "device": "cpu", **fields})


def run(step_s: float, index: int = 0, *, jitter: float = 0.0, seed: int = 0, noisy: bool = False,
        compile_s: float | None = None, cache: str = "cold", latency_s=(), items: int = 64) -> RunRecord:
    """A run whose rounds take ``step_s`` per step, with relative noise ``jitter`` between rounds."""
    rng = random.Random(seed)
    round_s = [step_s * STEPS * (1 + rng.uniform(-jitter, jitter)) for _ in range(5)]
    load = BUSY if noisy else QUIET
    return RunRecord(index, Status.OK, duration_s=1.0, steps_per_round=STEPS, round_s=round_s,
                     warmup=Warmup(3, 0.3, True), compile=CompileInfo(compile_s, cache) if compile_s else None,
                     loss_start=2.3, loss_end=1.0, peak_memory_bytes=2**30, memory_kind="rss-peak",
                     latency_s=list(latency_s), threads=2,
                     workload=Workload(items, "samples", flops_per_step=10**9, params_trainable=10,
                                       params_total=10, optimizer="adam"),
                     noise=Noise(cpu=load, reasons=load.busy_reasons()))


def record(steps: list[float], *, status: Status = Status.OK, noisy_runs: tuple[int, ...] = (), **fields) -> CaseRecord:
    """A case measured in one run per entry of ``steps`` (per-step seconds of each run)."""
    if status is not Status.OK:
        return CaseRecord(case(**fields), status, f"{status.value} for the test")
    return CaseRecord.from_runs(case(**fields), [run(s, i, noisy=i in noisy_runs) for i, s in enumerate(steps)])


def report(records: list[CaseRecord], *, label: str | None = None, env: dict | None = None,
           environment: Environment = ENVIRONMENT, device: str = "cpu",
           started: str = "2026-11-30T00:00:00+00:00") -> Report:
    """A report of one invocation that started at ``started`` and ended a minute later."""
    info = Invocation(suite="quick", device=device, label=label, argv=[], cases_planned=len(records),
                   cases_finished=len(records), interrupted=False, wall_s=1.0, rules=TimingRules(), runs=5,
                   setup=Setup(label or "", "/usr/bin/python3", env or {}), started=started)
    ended = (datetime.datetime.fromisoformat(started) + datetime.timedelta(minutes=1)).isoformat()
    return Report(environment, info, Ceilings(device, {"fp32": 1.0, "amp-bf16": 2.0}), records, created=ended,
                  pytest_benchmark={"machine_info": {"node": "fixture-host", "python_version": "3.11.7"},
                                    "commit_info": {}, "version": "5.2.3"})
