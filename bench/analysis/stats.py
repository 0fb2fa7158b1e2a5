"""Run-level statistics for comparisons (docs/measurement.md, rule 10), with scipy.

The unit of replication is a run in a fresh process: each run contributes its median
step time, never its rounds (rounds of one process share its memory layout, threads and
clocks, so they are not independent). Here: the ratio a comparison reports, and the drift
between invocations a baseline set measures (Kalibera & Jones's invocation level); the tests
that decide are bench/analysis/decision.py's (one-sided, Holm-adjusted: rule 14).
"""

from __future__ import annotations

import dataclasses
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
