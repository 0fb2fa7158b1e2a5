"""Group-sequential error spending for replicate-until-decided (docs/measurement.md, rule 14).

`bench run --until-decided` looks at a case after its planned runs, then again after each
interleaved pair it adds (A B or B A; one run against a baseline set). A test repeated at
every look at a fixed level would reject far more often than that level: the error is spent
over the looks instead. Lan-DeMets spending with the Hwang-Shih-DeCani family
(alpha(t) = alpha (1 - e^(-gamma t)) / (1 - e^(-gamma)); gamma = -4 is O'Brien-Fleming-like,
1 Pocock-like) on the look number, t_k = k / max_looks, fixed before any data. The boundaries
are those of the standardised statistics Z_k = S_k / sqrt(I_k), with S a Brownian motion in
the information I_k = runs per side at look k (the first look at the planned runs, then one
more per look), found by the Armitage-McPherson-Rowe recursion on a grid; each look's
boundary is applied as a nominal one-sided level to that look's t-test p-value.

Because the runs added per look are fixed (one pair), a case may stop at any look, for any
reason (decided, budget spent), without raising its error: a nominal level met at the look
where it stopped is a crossing of the design's boundary. bench/analysis/decision.py runs Holm's
step-down over cases with these levels (a sequential Holm procedure, Bartroff & Lai 2010).
"""

from __future__ import annotations

import functools
import math

from bench import config
from bench.results.report import SequentialDesign

# points of the recursion's grid: levels within 0.2 % (relative) of a 1,601-point grid, 25 ms a design
GRID_POINTS = 241
LOWER_SD = 7.0  # the grid's lower end, in standard deviations of S_k: the mass below is under 1e-11


def level(design: SequentialDesign, runs: int, alpha: float) -> float:
    """The nominal one-sided level at the look with ``runs`` runs a side, for a total level alpha.

    A design of several looks spends config.SEQUENTIAL_ALPHA_SHARE of alpha: the boundaries are those of z
    statistics, and t statistics with 2-17 degrees of freedom cross them more often (simulated, 20,000
    sequences of 16 looks at the null's edge: 5.1-6.1 % for a 5 % design; spending 80 %: 4.2-4.5 %)."""
    if design.max_looks == 1:
        return alpha
    share = alpha * config.SEQUENTIAL_ALPHA_SHARE
    return nominal_levels(share, design.max_looks, design.gamma, design.planned_runs)[design.look(runs) - 1]


def spent(alpha: float, fraction: float, gamma: float) -> float:
    """Hwang-Shih-DeCani error spending: the part of alpha spent by information fraction ``fraction``."""
    if fraction >= 1:
        return alpha
    if gamma == 0:
        return alpha * fraction
    return alpha * (1 - math.exp(-gamma * fraction)) / (1 - math.exp(-gamma))


@functools.lru_cache(maxsize=8192)
def nominal_levels(alpha: float, max_looks: int, gamma: float, first_runs: int) -> tuple[float, ...]:
    """Each look's nominal one-sided level, so that the probability of crossing at look k (and at no
    earlier one) under the null is the error spent between looks k-1 and k."""
    import numpy
    from scipy import optimize, stats

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    info = [float(first_runs + k) for k in range(max_looks)]
    budget = [spent(alpha, (k + 1) / max_looks, gamma) for k in range(max_looks)]
    levels = [budget[0]]
    bound = float(stats.norm.isf(budget[0])) * math.sqrt(info[0])  # on the S scale
    grid = numpy.linspace(-LOWER_SD * math.sqrt(info[0]), bound, GRID_POINTS)
    density = stats.norm.pdf(grid, scale=math.sqrt(info[0]))
    for k in range(1, max_looks):
        step = math.sqrt(info[k] - info[k - 1])
        weights = density * trapezoid_weights(grid)  # the continuing mass, by the trapezoid rule
        target = budget[k] - budget[k - 1]

        def crossing(b, grid=grid, weights=weights, step=step):
            return float(numpy.dot(weights, stats.norm.sf((b - grid) / step)))

        if target <= 1e-14:
            levels.append(0.0)
            bound = grid[-1] + 12 * step
        else:
            high = grid[-1] + 12 * step
            low = grid[-1] - 12 * step
            while crossing(low) < target:
                low -= 12 * step
            bound = optimize.brentq(lambda b, goal=target: crossing(b) - goal, low, high, xtol=1e-10)
            levels.append(float(stats.norm.sf(bound / math.sqrt(info[k]))))
        new_grid = numpy.linspace(-LOWER_SD * math.sqrt(info[k]), bound, GRID_POINTS)
        density = (weights[None, :] * stats.norm.pdf((new_grid[:, None] - grid[None, :]) / step) / step).sum(axis=1)
        grid = new_grid
    return tuple(levels)


def trapezoid_weights(grid):
    import numpy

    weights = numpy.full(len(grid), grid[1] - grid[0])
    weights[[0, -1]] /= 2
    return weights
