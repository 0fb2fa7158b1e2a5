"""Run-level statistics for comparisons (docs/measurement.md, rule 10), with scipy.

The unit of replication is a run in a fresh process: each run contributes its median
step time, never its rounds (rounds of one process share its memory layout, threads and
clocks, so they are not independent). These are the two-sided building blocks
(Welch's t-test on the logarithms of run medians: the ratio of geometric means and its
confidence interval; drift between invocations); compare and validate decide with the
one-sided, Holm-adjusted tests of bench/analysis/decision.py (rule 14).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class RatioEstimate:
    """new / base throughput (1.10: new is 10 % faster), from run medians of step times."""

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    n_base: int
    n_new: int
    confidence: float

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1) * 100


def ratio_estimate(base_step_s: Sequence[float], new_step_s: Sequence[float],
                   confidence: float = 0.95) -> RatioEstimate | None:
    """Throughput ratio new/base with its confidence interval; None with fewer than two runs a side."""
    import numpy
    from scipy import stats

    if len(base_step_s) < 2 or len(new_step_s) < 2:
        return None
    base, new = numpy.log(base_step_s), numpy.log(new_step_s)
    shift = float(base.mean() - new.mean())  # log(new throughput / base throughput)
    if base.std() == 0 and new.std() == 0:  # identical runs: no spread to test against
        exact = shift == 0
        return RatioEstimate(math.exp(shift), math.exp(shift), math.exp(shift), 1.0 if exact else 0.0,
                             len(base), len(new), confidence)
    test = stats.ttest_ind(base, new, equal_var=False)
    low, high = test.confidence_interval(confidence)
    return RatioEstimate(math.exp(shift), math.exp(float(low)), math.exp(float(high)), float(test.pvalue),
                         len(base), len(new), confidence)


def adjust_p_values(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values): false discovery rate over all cases."""
    from scipy import stats

    if not p_values:
        return []
    return [float(q) for q in stats.false_discovery_control(list(p_values), method="bh")]


def ratio_against_baseline(invocations: Sequence[Sequence[float]], new_step_s: Sequence[float],
                           confidence: float = 0.95, drift: Drift | None = None) -> RatioEstimate | None:
    """new's runs judged against the spread of a baseline's recorded invocations (docs/measurement.md, rule 13).

    Each recorded invocation contributes the mean of its log run medians; the new invocation's
    mean is compared with a prediction interval from them (t with k - 1 degrees of freedom),
    so that drift between invocations, which the runs of one invocation cannot show, counts.
    The spread is floored by the runs' own spread, so that k agreeing invocations by chance do
    not make it too tight. None with fewer than two invocations (use ratio_estimate).

    With ``drift`` (the hardware's, from shrunk_drift(): never below its pooled estimate or its device
    class's floor), an invocation mean varies by that drift plus its runs' spread, with the drift's
    degrees of freedom (its sittings', not its invocations'), in place of the case's own spread of means.
    """
    import numpy
    from scipy import stats

    sets = [numpy.log(s) for s in invocations if len(s) >= 1]
    if len(sets) < 2 or len(new_step_s) < 1:
        return None
    means = numpy.array([s.mean() for s in sets])
    k, center = len(means), float(means.mean())
    runs = [s for s in sets if len(s) > 1]
    within = (sum(float(s.var(ddof=1)) * (len(s) - 1) for s in runs)
              / max(sum(len(s) - 1 for s in runs), 1)) if runs else 0.0
    typical = float(numpy.mean([len(s) for s in sets]))
    spread = max(float(means.var(ddof=1)), within / typical)
    df = k - 1
    if drift is not None:
        spread, df = drift.variance + within / typical, max(1, min(df, drift.df))
    new = numpy.log(new_step_s)
    shift = center - float(new.mean())  # log(new throughput / baseline throughput)
    if spread == 0:
        exact = shift == 0
        return RatioEstimate(math.exp(shift), math.exp(shift), math.exp(shift), 1.0 if exact else 0.0, k, len(new),
                             confidence)
    scale = math.sqrt(spread * (1 + 1 / k))
    t = shift / scale
    p = float(2 * stats.t.sf(abs(t), df))
    margin = float(stats.t.ppf(0.5 + confidence / 2, df)) * scale
    return RatioEstimate(math.exp(shift), math.exp(shift - margin), math.exp(shift + margin), p, k, len(new),
                         confidence)


@dataclasses.dataclass(frozen=True)
class Drift:
    """How far one invocation's mean (log step time) moves from another's on this hardware, beyond what
    its runs' spread explains: the invocation level of Kalibera & Jones's repetition, measured from a
    baseline set of ``df + 1`` recorded invocations."""

    variance: float
    df: int

    @classmethod
    def clipped(cls, variance: float, df: int) -> Drift:
        """From a moment estimate, which can come out negative when the runs' spread explains it all."""
        return cls(max(variance, 0.0), df)


def drift_estimate(invocations: Sequence[Sequence[float]]) -> tuple[float, int] | None:
    """(between-invocation variance of log run medians net of the within-invocation part, df), not yet
    clipped at zero so that estimates can be pooled; None with fewer than two invocations of two runs."""
    import numpy

    sets = [numpy.log(s) for s in invocations if len(s) >= 2]
    if len(sets) < 2:
        return None
    means = numpy.array([s.mean() for s in sets])
    within = float(numpy.mean([s.var(ddof=1) / len(s) for s in sets]))
    return float(means.var(ddof=1)) - within, len(sets) - 1


def invocation_drift(invocations: Sequence[Sequence[float]]) -> Drift | None:
    """One case's drift between invocations; None with fewer than two invocations of two runs or more."""
    estimate = drift_estimate(invocations)
    return Drift.clipped(*estimate) if estimate else None


def pooled_drift(estimates: Sequence[tuple[float, int]]) -> Drift | None:
    """The hardware's drift pooled over its cases (df-weighted mean of drift_estimate()s, then clipped at
    zero). A case's own estimate from three invocations has 2 degrees of freedom and is often zero where
    the case does drift; pooling borrows from every case. Its degrees of freedom stay those of the
    invocations (cases of one invocation move together: they are not independent evidence)."""
    if not estimates:
        return None
    total = sum(df for _, df in estimates)
    return Drift.clipped(sum(v * df for v, df in estimates) / total, max(df for _, df in estimates))


def shrunk_drift(own: tuple[float, int] | None, pooled: Drift, floor_variance: float = 0.0,
                 df: int | None = None) -> Drift:
    """A case's drift, never below the hardware's pooled drift (nor ``floor_variance``).

    The df-weighted mean of the case's own estimate and the pooled one (df are the weights that
    inverse-variance weighting gives two estimates of one variance), used only where it lies above the
    pooled one: a case may drift more than its hardware's cases on average, and its own excess counts in
    proportion to its degrees of freedom; a lower own estimate is not trusted, because a few invocations
    put it in the chi-square's lower tail (with 2 df it is below a quarter of the truth 22 % of the
    time, and clipped to 0 often), and too little drift turns into false alarms where too much costs
    only power. ``df``: the result's degrees of freedom (default the pooled estimate's); the caller
    counts them honestly (invocations of one sitting are not independent evidence of drift).
    """
    variance = pooled.variance
    if own is not None:
        own_variance, own_df = own
        variance += max(own_variance - pooled.variance, 0.0) * own_df / (own_df + pooled.df)
    return Drift(max(variance, floor_variance, 0.0), pooled.df if df is None else df)


def ratio_across_invocations(base_step_s: Sequence[float], new_step_s: Sequence[float], drift: Drift,
                             confidence: float = 0.95) -> RatioEstimate | None:
    """Welch's comparison of two separate invocations, each mean also moving by the hardware's drift:
    variance s_a²/n_a + s_b²/n_b + 2·drift, degrees of freedom by Satterthwaite (drift with its own).
    With no drift it is Welch's test; with drift, a shift the hardware makes on its own is not called."""
    import numpy
    from scipy import stats

    if len(base_step_s) < 2 or len(new_step_s) < 2:
        return None
    base, new = numpy.log(base_step_s), numpy.log(new_step_s)
    parts = [(float(base.var(ddof=1)) / len(base), len(base) - 1), (float(new.var(ddof=1)) / len(new), len(new) - 1),
             (2 * drift.variance, max(drift.df, 1))]
    total = sum(v for v, _ in parts)
    shift = float(base.mean() - new.mean())
    if total == 0:
        return ratio_estimate(base_step_s, new_step_s, confidence)
    df = total**2 / sum(v**2 / d for v, d in parts if v > 0)
    scale = math.sqrt(total)
    p = float(2 * stats.t.sf(abs(shift) / scale, df))
    margin = float(stats.t.ppf(0.5 + confidence / 2, df)) * scale
    return RatioEstimate(math.exp(shift), math.exp(shift - margin), math.exp(shift + margin), p, len(base),
                         len(new), confidence)
