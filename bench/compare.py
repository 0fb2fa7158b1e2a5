"""Compare reports case by case at the level of replication (docs/measurement.md, rule 10).

Each side of a case is its runs' median step times. Against one report the test is Welch's
on log run medians; against a baseline set of several recorded reports, the new runs are
judged against the spread of those reports (drift between invocations counts). The verdict:

- faster / slower: the test is significant after the Benjamini-Hochberg adjustment over
  all cases (q < alpha), and the change is >= 1 %;
- same: not significant, and the confidence interval of the ratio lies inside +-margin;
- inconclusive: too few runs (fewer than two a side), or an interval too wide to decide;
- noisy: a run on either side was measured while the machine was busy (never slower);
- not comparable: a side was not measured (skipped, failed, ...).

Pure computation on Report objects; bench/render/compare.py prints it.
"""

from __future__ import annotations

import dataclasses
import enum
import statistics
from typing import Any

from bench import config
from bench.records import CaseRecord, Status
from bench.report import Report
from bench.stats import (
    Drift,
    RatioEstimate,
    adjust_p_values,
    ratio_across_invocations,
    ratio_against_baseline,
    ratio_estimate,
)

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


class Verdict(str, enum.Enum):
    FASTER = "faster"
    SLOWER = "slower"
    SAME = "same"
    INCONCLUSIVE = "inconclusive"
    NOISY = "noisy"
    NOT_COMPARABLE = "not comparable"


@dataclasses.dataclass(frozen=True)
class CaseComparison:
    key: str
    unit: str
    base_status: Status
    new_status: Status
    base_items_per_s: float | None
    new_items_per_s: float | None
    estimate: RatioEstimate | None
    q_value: float | None
    verdict: Verdict
    why: str  # what decided the verdict, in words

    @property
    def change_pct(self) -> float | None:
        return self.estimate.change_pct if self.estimate else None


@dataclasses.dataclass(frozen=True)
class Comparison:
    base_name: str
    new_name: str
    differences: list[tuple[str, Any, Any]]  # software, hardware fingerprint, setup
    cases: list[CaseComparison]
    only_base: list[str]
    only_new: list[str]
    margin_pct: float
    alpha: float
    basis: str  # what the test compared: interleaved runs, separate invocations (with or without drift), a set

    def regressions(self, above_pct: float) -> list[CaseComparison]:
        """Significant slowdowns by more than ``above_pct`` percent."""
        return [c for c in self.cases if c.verdict is Verdict.SLOWER and -c.change_pct > above_pct]

    def count(self, verdict: Verdict) -> int:
        return sum(1 for c in self.cases if c.verdict is verdict)


def differences(base: Report, new: Report) -> list[tuple[str, Any, Any]]:
    base_facts, new_facts = base.environment.facts, new.environment.facts
    found = [(label, get(base_facts), get(new_facts)) for label, get in ENV_FIELDS]
    found += base.fingerprint.differences(new.fingerprint)
    for name in sorted(set(base.run.setup.env) | set(new.run.setup.env)):
        found.append((f"${name}", base.run.setup.env.get(name), new.run.setup.env.get(name)))
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


def judge(estimate: RatioEstimate | None, q: float | None, noisy: str | None, margin: float,
          alpha: float) -> tuple[Verdict, str]:
    if noisy:
        return Verdict.NOISY, noisy
    if estimate is None:
        return Verdict.INCONCLUSIVE, f"fewer than {config.MIN_RUNS_TO_DECIDE} runs on a side: no spread to judge by"
    interval = f"ratio {estimate.ratio:.3f} [{estimate.ci_low:.3f}, {estimate.ci_high:.3f}]"
    if q is not None and q < alpha and abs(estimate.ratio - 1) >= config.MIN_CHANGE:
        return (Verdict.FASTER if estimate.ratio > 1 else Verdict.SLOWER), f"{interval}, q = {q:.3g}"
    if 1 - margin / 100 <= estimate.ci_low and estimate.ci_high <= 1 + margin / 100:
        return Verdict.SAME, f"{interval} within +-{margin:g}%"
    return Verdict.INCONCLUSIVE, f"{interval} reaches beyond +-{margin:g}% without a significant change"


def compare_case(key: str, base: Side, new: Side, estimate: RatioEstimate | None, q: float | None,
                 margin_pct: float, alpha: float) -> CaseComparison:
    record = new.records[0]
    comparable = base.status is Status.OK and new.status is Status.OK
    if comparable:
        noise = "; ".join(f"{name} noisy: {'; '.join(side.noise)}" for name, side in (("base", base), ("new", new))
                          if side.noisy)
        verdict, why = judge(estimate, q, noise or None, margin_pct, alpha)
    else:
        verdict, why = Verdict.NOT_COMPARABLE, f"{base.status.value} -> {new.status.value}"
    items = record.workload.items_per_step if record.workload else None
    base_rate = items / statistics.median(base.steps) if comparable and items else None
    return CaseComparison(key, record.case.spec.unit, base.status, new.status, base_rate,
                          record.items_per_s if comparable else None, estimate, q, verdict, why)


def estimate(base: Side, new: Side, invocations: int, confidence: float, drift: Drift | None) -> RatioEstimate | None:
    """Against a baseline set of several recorded reports: the new runs against the spread of those
    invocations. Against one report of another invocation on hardware whose drift between invocations is
    known: Welch with that drift counted. Otherwise (the sides interleaved in one invocation): Welch."""
    if invocations > 1:
        return ratio_against_baseline([r.run_step_s for r in base.records if r.status is Status.OK], new.steps,
                                      confidence, drift)
    if drift is not None:
        return ratio_across_invocations(base.steps, new.steps, drift, confidence)
    return ratio_estimate(base.steps, new.steps, confidence)


def same_invocation(a: Report, b: Report) -> bool:
    """Both reports come from one `bench run` (its setups, interleaved): drift lands on both alike."""
    return a.run.started == b.run.started


def drifts(baseline: list[Report], floor_sd: float = 0.0) -> dict[str, Drift]:
    """The drift between the recorded invocations of a baseline set (bench.baselines.hardware_drifts)."""
    from bench.baselines import hardware_drifts

    return hardware_drifts(baseline, floor_sd)


def compare_reports(bases: Report | list[Report], new: Report, *, base_name: str = "base", new_name: str = "new",
                    alpha: float = config.ALPHA, margin_pct: float = config.EQUIVALENCE_MARGIN_PCT,
                    drift: dict[str, Drift] | None = None) -> Comparison:
    """Every case of ``new`` found in ``bases`` (one report, or a baseline set of several). ``drift``
    (from drifts()) counts the hardware's drift between two separate invocations."""
    bases = [bases] if isinstance(bases, Report) else list(bases)
    base_keys = list(dict.fromkeys(r.key for b in bases for r in b.cases))
    new_keys = [r.key for r in new.cases]
    prepared = []
    for key in (k for k in new_keys if k in base_keys):
        base, side = Side([r for b in bases if (r := b.find(key)) is not None]), Side([new.find(key)])
        comparable = base.status is Status.OK and side.status is Status.OK
        moves = (drift or {}).get(key, (drift or {}).get("*"))
        prepared.append((key, base, side, estimate(base, side, len(bases), 1 - alpha, moves) if comparable
                         else None))
    q_values = iter(adjust_p_values([estimate.p_value for *_, estimate in prepared if estimate is not None]))
    cases = [compare_case(key, base, side, estimate, next(q_values) if estimate else None, margin_pct, alpha)
             for key, base, side, estimate in prepared]
    return Comparison(base_name, new_name, differences(bases[0], new), cases,
                      only_base=[k for k in base_keys if k not in new_keys],
                      only_new=[k for k in new_keys if k not in base_keys], margin_pct=margin_pct, alpha=alpha,
                      basis=basis(bases, new, drift))


def basis(bases: list[Report], new: Report, drift: dict[str, Drift] | None) -> str:
    if len(bases) > 1:
        return f"judged against the spread of {len(bases)} recorded invocations"
    if same_invocation(bases[0], new):
        return "runs interleaved in one invocation: drift lands on both sides"
    if drift:
        return (f"separate invocations: this hardware's drift between invocations is counted (from its baseline "
                f"set, {drift['*'].df} degree(s) of freedom: its sittings less one)")
    return ("separate invocations, and this hardware's drift between invocations is not known: a shift it makes "
            "on its own could be called; interleave the sides (bench run --setup), or record a baseline set "
            "(bench validate --record)")
