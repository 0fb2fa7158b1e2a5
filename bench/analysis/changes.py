"""Change points: persistent shifts in a series of run medians (docs/measurement.md, rule 13: history).

Apache Otava's method, on maintained libraries: candidate shifts by penalised least-squares segmentation of the
series' mean (``ruptures``' KernelCPD with the linear kernel: PELT, exact, in C), each then kept only if Welch's
t-test (scipy) between the segments on either side of it says the two means differ at ``max_pvalue``; the weakest
candidate that fails is merged away and the rest re-tested, until every boundary left is significant (Otava's
split-and-merge with a t-test).

The series is the log of each invocation's median step time, so a shift is a ratio: ``magnitude`` is
exp(after - before) - 1 (+0.04: 4 % slower). Settings live in ChangeSettings (defaults in bench/config.py).
Measured (tests/unit/test_changes.py): a 4 % step after 30 points in CV 2 % noise is found within 5 points of
the step in 99 of 100 series (its magnitude 2.8-5.0 %, median 4.0 %); 2 of 200 series of 60 points of pure
CV 2 % noise show a change point (max_pvalue 1e-4, min_segment 5, penalty 3 sigma^2 log n).

Otava itself (apache-otava 0.8) pins numpy==2.2.0 and scipy<1.17 and brings Google BigQuery, Slack and grpc
clients along, and MongoDB's signal-processing-algorithms pins numpy<2 and Python 3.11: neither can sit in an
environment that also holds the torch under test, so torchrig does not depend on them.
"""

from __future__ import annotations

import dataclasses
import math
import statistics

from bench import config

NORMAL_MAD_SCALE = 1.482602218505602  # 1 / Phi^-1(3/4): the MAD of a normal sample estimates sigma / this


@dataclasses.dataclass(frozen=True)
class ChangeSettings:
    max_pvalue: float = config.CHANGE_MAX_PVALUE  # Welch's two-sided p between the segments around a shift
    min_segment: int = config.CHANGE_MIN_SEGMENT  # points on each side of a shift, at least
    penalty_factor: float = config.CHANGE_PENALTY_FACTOR  # segmentation penalty: factor x sigma^2 x log(n)

    def __post_init__(self) -> None:
        if not 0 < self.max_pvalue < 1:
            raise ValueError(f"max_pvalue must be in (0, 1), got {self.max_pvalue}")
        if self.min_segment < 2:
            raise ValueError(f"min_segment must be >= 2 (a t-test needs a spread), got {self.min_segment}")
        if not (math.isfinite(self.penalty_factor) and self.penalty_factor > 0):
            raise ValueError(f"penalty_factor must be finite and > 0, got {self.penalty_factor}")


@dataclasses.dataclass(frozen=True)
class ChangePoint:
    index: int  # the first point after the shift
    before: float  # mean of log values of the segment before
    after: float  # ... and after
    pvalue: float

    @property
    def magnitude(self) -> float:
        """The shift as a ratio less one: +0.04 when the values after are 4 % higher (slower steps)."""
        return math.exp(self.after - self.before) - 1


def noise_sd(values: list[float]) -> float:
    """A robust standard deviation of the noise around the levels: the MAD of successive differences / sqrt(2)
    (a shift moves one difference, not the estimate)."""
    import numpy

    differences = numpy.diff(numpy.asarray(values, dtype=float))
    if not len(differences):
        return 0.0
    # scipy.stats.median_abs_deviation(scale="normal"), without its 0.4 ms of argument handling per call
    mad = numpy.median(numpy.abs(differences - numpy.median(differences))) * NORMAL_MAD_SCALE
    return float(mad) / math.sqrt(2)


def welch_pvalue(left: list[float], right: list[float]) -> float:
    from scipy.stats import ttest_ind

    if statistics.pvariance(left) == 0 and statistics.pvariance(right) == 0:
        return 0.0 if statistics.fmean(left) != statistics.fmean(right) else 1.0
    return float(ttest_ind(left, right, equal_var=False).pvalue)


def candidates(values: list[float], settings: ChangeSettings) -> list[int]:
    """The breakpoints (indices of the first point after each) of the segmentation that minimises the squared
    deviations from each segment's mean plus ``penalty`` per breakpoint: ruptures' KernelCPD with the linear kernel,
    whose cost is that L2 cost, solved exactly by PELT in C. (ruptures' Binseg with the L2 cost, used before,
    approximates the same optimum greedily in Python at about 2.5 ms per 100-point series, 130x as long: a site
    publishes 50,000 such series.)"""
    import numpy
    import ruptures

    sigma = noise_sd(values)
    if sigma == 0:
        sigma = statistics.pstdev(values) or 1e-12
    penalty = settings.penalty_factor * sigma**2 * math.log(len(values))
    algorithm = ruptures.KernelCPD(kernel="linear", min_size=settings.min_segment, jump=1)
    breaks = algorithm.fit(numpy.asarray(values, dtype=float).reshape(-1, 1)).predict(pen=penalty)
    return [int(index) for index in breaks if index < len(values)]


def change_points(values: list[float], settings: ChangeSettings | None = None) -> list[ChangePoint]:
    """The significant shifts of a series (oldest first); none for a series shorter than two segments."""
    settings = settings or ChangeSettings()
    if len(values) < 2 * settings.min_segment or any(not math.isfinite(v) for v in values):
        return []
    breaks = candidates(values, settings)
    while breaks:
        edges = [0, *breaks, len(values)]
        tested = [(welch_pvalue(values[edges[i]:edges[i + 1]], values[edges[i + 1]:edges[i + 2]]), i)
                  for i in range(len(breaks))]
        worst_p, worst = max(tested)
        if worst_p <= settings.max_pvalue:
            return [ChangePoint(breaks[i], statistics.fmean(values[edges[i]:edges[i + 1]]),
                                statistics.fmean(values[edges[i + 1]:edges[i + 2]]), p) for p, i in tested]
        del breaks[worst]  # merge the weakest boundary away and test the rest again
    return []
