"""Synthetic reports with known answers, for compare, summary, report and validate tests."""

from __future__ import annotations

import copy
import random

from bench.cases import Case
from bench.config import TimingRules
from bench.result import CaseResult
from bench.storage import build_report

RULES = TimingRules()


def record(step_s: float, *, jitter: float = 0.0, seed: int = 0, status: str = "ok", rounds: int = 7,
           **case_fields) -> CaseResult:
    """A case whose rounds take ``step_s`` per step, with relative noise ``jitter``."""
    case = Case(**{"model": "cnn", "mode": "train", "backend": "eager", "precision": "fp32",
                   "batch_size": 64, "device": "cpu", **case_fields})
    if status != "ok":
        return CaseResult(case, status, reason=f"{status} for the test")
    rng = random.Random(seed)
    steps = 100
    round_s = [step_s * steps * (1 + rng.uniform(-jitter, jitter)) for _ in range(rounds)]
    return CaseResult(case, "ok", steps_per_round=steps, round_s=round_s, flops_per_step=10**9,
                      peak_memory_bytes=2**30, memory_kind="rss", loss_start=2.3, loss_end=1.0,
                      params_trainable=1, params_total=1, duration_s=1.0)


def report(environment: dict, results: list[CaseResult], *, label: str | None = None, **fact_overrides) -> dict:
    environment = copy.deepcopy(environment)
    facts = environment["facts"]
    for dotted, value in fact_overrides.items():
        target = facts
        *path, last = dotted.split("__")
        for key in path:
            target = target[key]
        target[last] = value
    return build_report(results, environment=environment, device="cpu",
                        run={"suite": "quick", "device": "cpu", "label": label, "argv": [],
                             "cases_planned": len(results), "cases_finished": len(results),
                             "interrupted": False, "wall_s": 1.0},
                        ceilings={"fp32": 1.0, "amp-bf16": 2.0}, rules=RULES)
