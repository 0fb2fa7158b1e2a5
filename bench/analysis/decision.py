"""Decide, or say you cannot (docs/measurement.md, rule 14): one three-way verdict per case, with the
family-wise error of a whole report controlled.

Each case's evidence is an Effect: the shift d = log(new throughput / base throughput) estimated from run
medians, its standard error and degrees of freedom, by the test that fits how the sides were measured:

- interleaved in one invocation, runs paired by index (run i of A next to run i of B) and at least
  config.PAIRED_MIN_PAIRS pairs: the paired t-test on the log ratios (drift inside the invocation cancels);
- interleaved with fewer pairs, or unpaired: Welch's test on the log run medians;
- separate invocations on hardware whose drift between invocations is known: Welch with 2 drift added to
  the variance, Satterthwaite's degrees of freedom;
- against a baseline set of k recorded invocations: the new invocation's mean against their centre, with
  their spread (drift included) and the new runs' own spread: var = spread/k + drift + within/n_new, k - 1
  degrees of freedom.

For a threshold X (``Thresholds.slower``) a case is *slower* when the one-sided test rejects "new is not
slower than 1 - X"; for a margin Y (``Thresholds.same``) it is *same* when the one-sided test rejects "new is
slower than 1 - Y" (the bound rules out a slowdown beyond Y), and *faster* when that bound is also above
1 + config.MIN_CHANGE; otherwise *inconclusive*, with the smallest change this spread can tell. Both families
of one-sided tests are adjusted over the cases by Holm's step-down procedure; a report replicated until
decided uses the sequential design's nominal level at each case's look (bench/analysis/sequential.py). The interval
printed next to a verdict is [lower bound at the same-test's level, upper bound at the slower-test's level]:
exactly the bounds the verdict compared with the thresholds. Noisy cases, cases with too few runs, with no
spread at all, or across invocations whose drift is unknown leave the family: they are inconclusive (or
noisy) and never count towards the adjustment.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Sequence

from bench import config
from bench.analysis.sequential import level as sequential_level
from bench.analysis.stats import Drift
from bench.results.report import SequentialDesign


class Verdict(str, enum.Enum):
    FASTER = "faster"
    SLOWER = "slower"
    SAME = "same"
    INCONCLUSIVE = "inconclusive"
    NOISY = "noisy"
    NOT_COMPARABLE = "not comparable"


@dataclasses.dataclass(frozen=True)
class Effect:
    """d = log(new throughput / base throughput) with its standard error and degrees of freedom."""

    shift: float
    se: float
    df: float
    n_base: int
    n_new: int
    method: str  # paired, Welch, Welch with drift, against a baseline set

    def lower(self, level: float) -> float:
        """One-sided lower bound of d at ``level``."""
        from scipy import stats

        return self.shift - float(stats.t.isf(level, self.df)) * self.se

    def upper(self, level: float) -> float:
        from scipy import stats

        return self.shift + float(stats.t.isf(level, self.df)) * self.se


# ---------------------------------------------------------------- estimators (numpy arrays, last axis = runs)


def welch_arrays(base, new):
    """(shift, se, df) of Welch's test on log run medians; arrays of any leading shape."""
    import numpy

    nb, nn = base.shape[-1], new.shape[-1]
    vb, vn = base.var(axis=-1, ddof=1) / nb, new.var(axis=-1, ddof=1) / nn
    total = vb + vn
    with numpy.errstate(divide="ignore", invalid="ignore"):
        df = numpy.where(total > 0, total**2 / (vb**2 / (nb - 1) + vn**2 / (nn - 1)), float(nb + nn - 2))
    return base.mean(axis=-1) - new.mean(axis=-1), numpy.sqrt(total), df


def paired_arrays(base, new):
    """(shift, se, df) of the paired t-test on log ratios of runs measured next to each other."""
    import numpy

    d = base - new
    n = d.shape[-1]
    return d.mean(axis=-1), d.std(axis=-1, ddof=1) / math.sqrt(n), numpy.full(d.shape[:-1], float(n - 1))


def drift_arrays(base, new, drift: float, drift_df: int):
    """(shift, se, df): Welch with each invocation's mean also moving by the hardware's drift (variance)."""
    import numpy

    nb, nn = base.shape[-1], new.shape[-1]
    parts = [(base.var(axis=-1, ddof=1) / nb, nb - 1), (new.var(axis=-1, ddof=1) / nn, nn - 1),
             (numpy.full(base.shape[:-1], 2 * drift), max(drift_df, 1))]
    total = sum(v for v, _ in parts)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        df = total**2 / sum(v**2 / d for v, d in parts)
    return base.mean(axis=-1) - new.mean(axis=-1), numpy.sqrt(total), numpy.where(total > 0, df, 1.0)


def baseline_arrays(means, within, typical, new, within_df: float | None = None, drift: Drift | None = None):
    """(shift, se, df) against k recorded invocations: ``means`` (..., k) their mean log run medians,
    ``within`` (...) their pooled within-invocation variance (``within_df`` degrees of freedom, default
    k (typical - 1)), ``typical`` their runs per invocation, ``new`` (..., n) the new log run medians, whose own
    spread is pooled with theirs. The spread of the means is floored by what the runs explain. With ``drift``
    (the hardware's, from baselines.hardware_drifts: never below its pooled estimate or its device class's
    floor) an invocation mean moves by that drift plus its runs' spread, in place of the case's own spread of
    means, with the drift's degrees of freedom (its sittings', not its invocations') when they are fewer."""
    import numpy

    k, n = means.shape[-1], new.shape[-1]
    between = means.var(axis=-1, ddof=1)
    df = float(k - 1)
    if drift is not None:
        moves = numpy.full(numpy.shape(between), drift.variance)
        spread, df = moves + within / typical, float(max(1, min(k - 1, drift.df)))
    else:
        spread = numpy.maximum(between, within / typical)
        moves = numpy.maximum(between - within / typical, 0.0)
    base_df = within_df if within_df is not None else k * (typical - 1)
    own = new.var(axis=-1, ddof=1) if n > 1 else numpy.zeros(new.shape[:-1])
    pooled = (within * base_df + own * (n - 1)) / max(base_df + n - 1, 1)
    se = numpy.sqrt(spread / k + moves + pooled / n)
    return means.mean(axis=-1) - new.mean(axis=-1), se, numpy.full(se.shape, df)


def _effect(arrays, n_base: int, n_new: int, method: str) -> Effect:
    shift, se, df = (float(x) for x in arrays)
    return Effect(shift, se, df, n_base, n_new, method)


def logs(values: Sequence[float]):
    import numpy

    return numpy.log(numpy.asarray(values, dtype=float))


def welch(base_step_s: Sequence[float], new_step_s: Sequence[float]) -> Effect | None:
    if min(len(base_step_s), len(new_step_s)) < config.MIN_RUNS_TO_DECIDE:
        return None
    return _effect(welch_arrays(logs(base_step_s), logs(new_step_s)), len(base_step_s), len(new_step_s), "Welch")


def paired(base_step_s: Sequence[float], new_step_s: Sequence[float]) -> Effect | None:
    """Runs given in pair order (the same run indices on both sides)."""
    if len(base_step_s) != len(new_step_s) or len(base_step_s) < config.MIN_RUNS_TO_DECIDE:
        return None
    return _effect(paired_arrays(logs(base_step_s), logs(new_step_s)), len(base_step_s), len(new_step_s), "paired")


def interleaved(base_runs: dict[int, float], new_runs: dict[int, float]) -> Effect | None:
    """Sides of one interleaved invocation, runs by index: paired from config.PAIRED_MIN_PAIRS pairs on (a rule
    fixed in advance, never chosen by which test says more), else Welch."""
    if set(base_runs) == set(new_runs) and len(base_runs) >= config.PAIRED_MIN_PAIRS:
        order = sorted(base_runs)
        return paired([base_runs[i] for i in order], [new_runs[i] for i in order])
    return welch(list(base_runs.values()), list(new_runs.values()))


def across_invocations(base_step_s: Sequence[float], new_step_s: Sequence[float], drift: Drift) -> Effect | None:
    if min(len(base_step_s), len(new_step_s)) < config.MIN_RUNS_TO_DECIDE:
        return None
    return _effect(drift_arrays(logs(base_step_s), logs(new_step_s), drift.variance, drift.df), len(base_step_s),
                   len(new_step_s), "Welch with drift")


def against_baseline(invocations: Sequence[Sequence[float]], new_step_s: Sequence[float],
                     drift: Drift | None = None) -> Effect | None:
    """None with fewer than two recorded invocations or no new run."""
    import numpy

    sets = [logs(s) for s in invocations if len(s) >= 1]
    if len(sets) < 2 or len(new_step_s) < 1:
        return None
    runs = [s for s in sets if len(s) > 1]
    dof = sum(len(s) - 1 for s in runs)
    within = sum(float(s.var(ddof=1)) * (len(s) - 1) for s in runs) / dof if dof else 0.0
    typical = float(numpy.mean([len(s) for s in sets]))
    means = numpy.array([s.mean() for s in sets])
    return _effect(baseline_arrays(means, numpy.float64(within), typical, logs(new_step_s), dof, drift), len(sets),
                   len(new_step_s), "against a baseline set")


# ---------------------------------------------------------------- one-sided tests and Holm


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """slower: a verdict 'slower' needs new slower than 1 - slower; same: 'same' needs a slowdown beyond 1 - same
    ruled out (fractions, 0.10 = 10 %)."""

    slower: float
    same: float

    def __post_init__(self) -> None:
        for name in ("slower", "same"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value < 1):
                raise ValueError(f"{name} threshold must be a fraction in [0, 1), got {value}")


def p_slower_arrays(shift, se, df, threshold: float):
    """One-sided p of H0 'd >= log(1 - threshold)' (not slower beyond the threshold)."""
    from scipy import stats

    return stats.t.cdf((shift - math.log(1 - threshold)) / se, df)


def p_same_arrays(shift, se, df, margin: float):
    """One-sided p of H0 'd <= log(1 - margin)' (slower beyond the margin)."""
    from scipy import stats

    return stats.t.sf((shift - math.log(1 - margin)) / se, df)


def holm(p_values: dict[str, float], nominal: Callable[[str, float], float],
         alpha: float) -> dict[str, tuple[float, bool]]:
    """Holm's step-down over a family: test every remaining hypothesis at alpha / (remaining), reject those that
    meet their nominal level (``nominal(key, total level)``: the level itself, or a sequential design's at the
    case's look), repeat with the rest. key -> (the nominal level it was last tested at, rejected)."""
    remaining, out = set(p_values), {}
    while remaining:
        levels = {key: nominal(key, alpha / len(remaining)) for key in remaining}
        hits = {key for key in remaining if p_values[key] <= levels[key]}
        for key in remaining:
            out[key] = (levels[key], key in hits)
        if not hits:
            break
        remaining -= hits
    return out


def holm_arrays(p, alpha: float):
    """Holm's step-down on the last axis of an array of p-values (fixed levels): which are rejected."""
    import numpy

    m = p.shape[-1]
    order = numpy.argsort(p, axis=-1)
    sorted_p = numpy.take_along_axis(p, order, axis=-1)
    passes = numpy.cumprod(sorted_p <= alpha / (m - numpy.arange(m)), axis=-1).astype(bool)
    rejected = numpy.zeros_like(passes)
    numpy.put_along_axis(rejected, order, passes, axis=-1)
    return rejected


@dataclasses.dataclass(frozen=True)
class Evidence:
    """One case before the family is adjusted: its effect, or why it is out of the family."""

    key: str
    effect: Effect | None
    excluded: tuple[str, str] | None = None  # (verdict, why) of a case out of the family
    design: SequentialDesign | None = None  # how its runs were collected, when replicated until decided
    runs: int = 0  # runs a side at this look


@dataclasses.dataclass(frozen=True)
class CaseDecision:
    key: str
    verdict: Verdict
    why: str
    effect: Effect | None = None
    low: float | None = None  # ratio bounds the verdict used
    high: float | None = None
    p_slower: float | None = None
    level_slower: float | None = None
    p_same: float | None = None
    level_same: float | None = None
    mde_pct: float | None = None  # the smallest change (%) this spread tells at the level used

    @property
    def decided(self) -> bool:
        return self.verdict in (Verdict.FASTER, Verdict.SLOWER, Verdict.SAME)

    @property
    def distance(self) -> float:
        """How far from a decision (0: about to be decided): log(p / level) of the nearer test."""
        if self.p_slower is None or self.decided:
            return math.inf
        return min(math.log(max(self.p_slower, 1e-300) / self.level_slower),
                   math.log(max(self.p_same, 1e-300) / self.level_same))


def decide_family(evidence: list[Evidence], thresholds: Thresholds, alpha: float) -> list[CaseDecision]:
    """Every case's verdict, both families of one-sided tests Holm-adjusted over the cases that are in them."""
    family = [e for e in evidence if e.excluded is None and e.effect is not None and e.effect.se > 0]
    p_slower = {e.key: float(p_slower_arrays(e.effect.shift, e.effect.se, e.effect.df, thresholds.slower))
                for e in family}
    p_same = {e.key: float(p_same_arrays(e.effect.shift, e.effect.se, e.effect.df, thresholds.same)) for e in family}
    by_key = {e.key: e for e in family}

    def nominal(key: str, level: float) -> float:
        item = by_key[key]
        return sequential_level(item.design, item.runs, level) if item.design else level

    slower, same = holm(p_slower, nominal, alpha), holm(p_same, nominal, alpha)
    out = []
    for item in evidence:
        if item.key in by_key:
            out.append(verdict(item, thresholds, p_slower[item.key], slower[item.key], p_same[item.key],
                               same[item.key]))
        elif item.excluded is not None:
            name, why = item.excluded
            out.append(CaseDecision(item.key, Verdict(name), why, item.effect))
        elif item.effect is None:
            out.append(CaseDecision(item.key, Verdict.INCONCLUSIVE, f"fewer than {config.MIN_RUNS_TO_DECIDE} runs on "
                                                                     "a side: no spread to judge by"))
        else:
            out.append(CaseDecision(item.key, Verdict.INCONCLUSIVE, "no spread at all (identical runs): a difference "
                                    "cannot be tested; add runs", item.effect))
    return out


def verdict(item: Evidence, thresholds: Thresholds, p_slow: float, slower: tuple[float, bool], p_same: float,
            same: tuple[float, bool]) -> CaseDecision:
    effect = item.effect
    (level_slow, is_slower), (level_same, is_same) = slower, same
    low, high = math.exp(effect.lower(level_same)), math.exp(effect.upper(level_slow))
    mde = 100 * (1 - math.exp(-(effect.shift - effect.lower(level_same))))
    bounds = f"ratio {math.exp(effect.shift):.3f} [{low:.3f}, {high:.3f}] ({effect.method}, {effect.n_base}/" \
             f"{effect.n_new} runs)"
    common = dict(effect=effect, low=low, high=high, p_slower=p_slow, level_slower=level_slow, p_same=p_same,
                  level_same=level_same, mde_pct=mde)
    if is_slower:
        return CaseDecision(item.key, Verdict.SLOWER, f"{bounds}: slower than {1 - thresholds.slower:.3f}x "
                            f"(p {p_slow:.2g} <= level {level_slow:.2g})", **common)
    if is_same and low > 1 + config.MIN_CHANGE:
        return CaseDecision(item.key, Verdict.FASTER, f"{bounds}: faster (p {p_same:.2g} <= level {level_same:.2g})",
                            **common)
    if is_same:
        return CaseDecision(item.key, Verdict.SAME, f"{bounds}: rules out a slowdown beyond "
                            f"{100 * thresholds.same:g}% (p {p_same:.2g} <= level {level_same:.2g})", **common)
    return CaseDecision(item.key, Verdict.INCONCLUSIVE, f"{bounds}: neither shows nor rules out a slowdown beyond "
                        f"{100 * thresholds.same:g}%: could tell >= {mde:.0f}% here; add runs or quiet the machine",
                        **common)
