"""Mann-Whitney U test on raw round times (no SciPy among the dependencies).

Exact p-values for small samples without ties (5 to 15 rounds a side, the usual
case), the normal approximation with tie and continuity corrections otherwise.
"""

from __future__ import annotations

import math
from functools import cache
from statistics import NormalDist

EXACT_MAX_TOTAL = 40


def _ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties given their average rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


@cache
def _count(m: int, n: int, u: int) -> int:
    """Arrangements of m + n distinct values whose U statistic for the m-sample equals u."""
    if u < 0 or u > m * n:
        return 0
    if m == 0 or n == 0:
        return 1 if u == 0 else 0
    return _count(m - 1, n, u - n) + _count(m, n - 1, u)


def mann_whitney_u(a: list[float], b: list[float]) -> tuple[float, float]:
    """(U of ``a``, two-sided p-value) for 'a and b come from the same distribution'."""
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        raise ValueError("both samples need at least one value")
    ranks = _ranks(list(a) + list(b))
    u_a = sum(ranks[:m]) - m * (m + 1) / 2
    u_min = min(u_a, m * n - u_a)
    has_ties = len(set(a) | set(b)) < m + n
    if not has_ties and m + n <= EXACT_MAX_TOTAL:
        total = math.comb(m + n, m)
        tail = sum(_count(m, n, u) for u in range(int(u_min) + 1))
        return u_a, min(1.0, 2 * tail / total)
    values = list(a) + list(b)
    tie_term = sum(t**3 - t for t in (values.count(v) for v in set(values)))
    variance = m * n / 12 * ((m + n + 1) - tie_term / ((m + n) * (m + n - 1)))
    if variance <= 0:
        return u_a, 1.0
    z = (abs(u_a - m * n / 2) - 0.5) / math.sqrt(variance)
    return u_a, min(1.0, 2 * (1 - NormalDist().cdf(max(z, 0.0))))
