"""Compare reports case by case at the level of replication (docs/measurement.md, rules 10 and 14).

Each side of a case is its runs' median step times. The test fits how the sides were measured
(bench/analysis/decision.py): interleaved in one invocation, paired by run index (from config.PAIRED_MIN_PAIRS pairs)
or Welch on log run medians; two separate invocations, Welch with the hardware's drift between invocations
counted when a baseline set measured it, and no decision at all when it did not; against a baseline set of
several recorded reports, the new runs against the spread of those invocations. The verdicts:

- slower: a one-sided test shows new slower than 1 - fail_above (without a threshold: by more than
  config.MIN_CHANGE), Holm-adjusted over the cases of the comparison;
- same: the one-sided bound rules out a slowdown beyond the margin (5 %, or fail_above), Holm-adjusted;
  faster: that bound is also above 1 + config.MIN_CHANGE;
- inconclusive: neither, with the smallest change this spread can tell; also too few runs (fewer than two
  a side), no spread at all, or separate invocations whose drift is unknown;
- noisy: most runs of a side were measured while the machine was busy (never slower; out of the family);
- not comparable: a side was not measured (skipped, failed, ...).

Reports replicated until decided (Invocation.sequential) are judged at each case's look with the sequential
design's levels (bench/analysis/sequential.py). Pure computation on Report objects; bench/render/compare.py prints it.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any

from bench import config
from bench.analysis.decision import (
    CaseDecision,
    Evidence,
    Thresholds,
    Verdict,
    across_invocations,
    against_baseline,
    decide_family,
    interleaved,
    welch,
)
from bench.analysis.stats import Drift, RatioEstimate
from bench.config import RequestError
from bench.results.records import CaseRecord, Status
from bench.results.report import Report

# (label, how to read it from facts): the software and hardware that explain a difference in speed.
ENV_FIELDS = (
    ("GPU", lambda f: ", ".join(g.name for g in f.gpus) or "none"),
    ("driver", lambda f: f.nvml.driver_version),
    ("torch", lambda f: f.torch.version if f.torch else None),
    ("CUDA", lambda f: f.torch.cuda_build if f.torch else None),
    ("cuDNN", lambda f: f.torch.cudnn_version if f.torch else None),
    ("torchvision", lambda f: f.torchvision_version),
    ("transformers", lambda f: f.packages.get("transformers")),
    ("Python", lambda f: f.python.version),
)


@dataclasses.dataclass(frozen=True)
class CaseComparison:
    key: str
    unit: str
    base_status: Status
    new_status: Status
    base_items_per_s: float | None
    new_items_per_s: float | None
    estimate: RatioEstimate | None  # ratio with the bounds the verdict used (None: no test was made)
    decision: CaseDecision

    @property
    def verdict(self) -> Verdict:
        return self.decision.verdict

    @property
    def why(self) -> str:  # what decided the verdict, in words
        return self.decision.why

    @property
    def mde_pct(self) -> float | None:
        return self.decision.mde_pct

    @property
    def change_pct(self) -> float | None:
        return self.estimate.change_pct if self.estimate else None

    @property
    def undecided(self) -> bool:
        """Neither faster, slower nor same, and not a case both sides skipped alike."""
        if self.verdict is Verdict.NOT_COMPARABLE:
            return not (self.base_status is Status.SKIPPED and self.new_status is Status.SKIPPED)
        return not self.decision.decided


@dataclasses.dataclass(frozen=True)
class CompareRequest:
    """compare's thresholds, checked before any report is read (RequestError naming every problem)."""

    fail_above: float | None = None  # percent: slower beyond it is a regression; also the margin of 'same'
    alpha: float = config.ALPHA

    def __post_init__(self) -> None:
        errors = list(filter(None, [config.fail_above_error(self.fail_above)]))
        if not (math.isfinite(self.alpha) and 0 < self.alpha < 1):
            errors.append(f"--alpha must be between 0 and 1, got {self.alpha}")
        if errors:
            raise RequestError("; ".join(errors))

    def thresholds(self) -> dict:
        """compare_reports' keyword arguments for these thresholds."""
        margin = self.fail_above if self.fail_above is not None else config.EQUIVALENCE_MARGIN_PCT
        return {"alpha": self.alpha, "margin_pct": margin, "fail_above_pct": self.fail_above}


@dataclasses.dataclass(frozen=True)
class Comparison:
    base_name: str
    new_name: str
    differences: list[tuple[str, Any, Any]]  # software, hardware fingerprint, setup
    cases: list[CaseComparison]
    only_base: list[str]
    only_new: list[str]
    margin_pct: float  # same: a slowdown beyond it ruled out
    alpha: float
    basis: str  # what the test compared: interleaved runs, separate invocations (with or without drift), a set
    slower_pct: float = config.MIN_CHANGE * 100  # slower: shown beyond it (--fail-above; else any change >= 1 %)
    refused: str | None = None  # why no case could be decided at all (separate invocations, drift unknown)

    def regressions(self, above_pct: float | None = None) -> list[CaseComparison]:
        """Cases shown slower than 1 - slower_pct (and, if given, by more than ``above_pct`` percent)."""
        return [c for c in self.cases if c.verdict is Verdict.SLOWER
                and (above_pct is None or -c.change_pct > above_pct)]

    @property
    def undecided(self) -> list[CaseComparison]:
        return [c for c in self.cases if c.undecided]

    @property
    def decided(self) -> int:
        return sum(1 for c in self.cases if c.decision.decided)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for c in self.cases if c.verdict is verdict)


def differences(base: Report, new: Report) -> list[tuple[str, Any, Any]]:
    base_facts, new_facts = base.environment.facts, new.environment.facts
    found = [(label, get(base_facts), get(new_facts)) for label, get in ENV_FIELDS]
    found += base.fingerprint.differences(new.fingerprint)
    for name in sorted(set(base.invocation.setup.env) | set(new.invocation.setup.env)):
        found.append((f"${name}", base.invocation.setup.env.get(name), new.invocation.setup.env.get(name)))
    return [(label, b, n) for label, b, n in found if b != n]


@dataclasses.dataclass(frozen=True)
class Side:
    """One side of a case: its record in each report (several for a baseline set)."""

    records: list[CaseRecord]

    @property
    def status(self) -> Status:
        ok = [r for r in self.records if r.status is Status.OK]
        return Status.OK if ok else self.records[0].status

    @property
    def steps(self) -> list[float]:
        return [s for r in self.records if r.status is Status.OK for s in r.run_step_s]

    @property
    def noise(self) -> list[str]:
        return list(dict.fromkeys(reason for r in self.records for reason in r.noise_reasons))

    @property
    def noisy(self) -> bool:
        return any(r.noisy for r in self.records)

    @property
    def by_index(self) -> dict[int, float]:
        """Run index -> median step, of the one record of a side (interleaved runs pair up by index)."""
        return {run.index: run.step_s for r in self.records if r.status is Status.OK for run in r.measured_runs}


def evidence(key: str, bases: list[Report], new: Report, base: Side, side: Side,
             drift: dict[str, Drift] | None) -> Evidence:
    """The test that fits how the sides were measured (bench/analysis/decision.py), or why the case is out of
    the family.

    Against a baseline set of several recorded reports: the new runs against the spread of those invocations.
    Sides interleaved in one invocation: paired or Welch. Another invocation on hardware whose drift between
    invocations is known: Welch with that drift counted; whose drift is unknown: no test (refused)."""
    if base.status is not Status.OK or side.status is not Status.OK:
        return Evidence(key, None, (Verdict.NOT_COMPARABLE.value, f"{base.status.value} -> {side.status.value}"))
    noise = "; ".join(f"{name} noisy: {'; '.join(s.noise)}" for name, s in (("base", base), ("new", side)) if s.noisy)
    if noise:
        return Evidence(key, None, (Verdict.NOISY.value, noise))
    design = new.invocation.sequential
    moves = (drift or {}).get(key, (drift or {}).get("*"))
    if len(bases) > 1:
        return Evidence(key, against_baseline([r.run_step_s for r in base.records if r.status is Status.OK],
                                              side.steps, moves), design=design, runs=len(side.steps))
    if bases[0].same_invocation(new):
        base_runs, new_runs = base.by_index, side.by_index
        return Evidence(key, interleaved(base_runs, new_runs), design=design,
                        runs=min(len(base_runs), len(new_runs)))
    if moves is not None:
        return Evidence(key, across_invocations(base.steps, side.steps, moves))
    return Evidence(key, welch(base.steps, side.steps), (Verdict.INCONCLUSIVE.value, UNKNOWN_DRIFT))


UNKNOWN_DRIFT = ("separate invocations whose drift between invocations is unknown: not decided; measure both "
                 "sides interleaved in one invocation (bench run --setup a=PYTHON --setup b=PYTHON), or record a "
                 "baseline set for this hardware (bench validate --record)")


def case_comparison(key: str, base: Side, side: Side, decision: CaseDecision, alpha: float) -> CaseComparison:
    record = side.records[0]
    comparable = base.status is Status.OK and side.status is Status.OK
    base_rate = statistics.median(r.items_per_s for r in base.records if r.items_per_s) if comparable else None
    effect = decision.effect
    estimate = None
    if effect is not None and decision.low is not None:
        estimate = RatioEstimate(math.exp(effect.shift), decision.low, decision.high, decision.p_slower,
                                 effect.n_base, effect.n_new, 1 - decision.level_slower - decision.level_same)
    return CaseComparison(key, record.case.spec.unit, base.status, side.status, base_rate,
                          record.items_per_s if comparable else None, estimate, decision)


def compare_reports(bases: Report | list[Report], new: Report, *, base_name: str = "base", new_name: str = "new",
                    alpha: float = config.ALPHA, margin_pct: float = config.EQUIVALENCE_MARGIN_PCT,
                    fail_above_pct: float | None = None, drift: dict[str, Drift] | None = None) -> Comparison:
    """Every case of ``new`` found in ``bases`` (one report, or a baseline set of several), decided three ways:
    slower beyond ``fail_above_pct`` (default: by more than config.MIN_CHANGE), same within ``margin_pct``, or
    inconclusive. ``drift`` (from baselines.hardware_drifts) counts the hardware's drift between invocations:
    between two separate ones, or between a baseline set's and the new one."""
    bases = [bases] if isinstance(bases, Report) else list(bases)
    slower_pct = fail_above_pct if fail_above_pct is not None else config.MIN_CHANGE * 100
    thresholds = Thresholds(slower_pct / 100, margin_pct / 100)
    base_keys = list(dict.fromkeys(r.key for b in bases for r in b.cases))
    new_keys = [r.key for r in new.cases]
    sides = {key: (Side([r for b in bases if (r := b.find(key)) is not None]), Side([new.find(key)]))
             for key in new_keys if key in base_keys}
    found = [evidence(key, bases, new, base, side, drift) for key, (base, side) in sides.items()]
    decisions = decide_family(found, thresholds, alpha)
    cases = [case_comparison(d.key, *sides[d.key], d, alpha) for d in decisions]
    refused = UNKNOWN_DRIFT if any(e.excluded and e.excluded[1] == UNKNOWN_DRIFT for e in found) else None
    return Comparison(base_name, new_name, differences(bases[0], new), cases,
                      only_base=[k for k in base_keys if k not in new_keys],
                      only_new=[k for k in new_keys if k not in base_keys], margin_pct=margin_pct, alpha=alpha,
                      basis=basis(bases, new, drift), slower_pct=slower_pct, refused=refused)


def basis(bases: list[Report], new: Report, drift: dict[str, Drift] | None) -> str:
    if len(bases) > 1:
        return f"judged against the spread of {len(bases)} recorded invocations"
    if bases[0].same_invocation(new):
        return "runs interleaved in one invocation: drift lands on both sides"
    if drift:
        return (f"separate invocations: this hardware's drift between invocations is counted (from its baseline "
                f"set, {drift['*'].df} degree(s) of freedom: its sittings less one)")
    return ("separate invocations, and this hardware's drift between invocations is not known: a shift it makes "
            "on its own could be called; interleave the sides (bench run --setup), or record a baseline set "
            "(bench validate --record)")
