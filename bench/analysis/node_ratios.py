"""A node's throughput against its fleet: the ratio to the median of the nodes of the same hardware fingerprint.

The design judges a node against the robust centre of its own fleet (same fingerprint), as SuperBench does
against its fleet's baseline. This is the one place `bench publish` computes that ratio (its fleet heat map and
node pages); it is kept to one function so that the fleet analysis (bench/analysis/fleet.py, issue 23) can
replace it without touching the site.
"""

from __future__ import annotations

import statistics

NodeCase = tuple[str, str, str]  # (hostname, fingerprint, case key)


def ratio_to_fingerprint_median(latest: dict[NodeCase, float]) -> dict[NodeCase, float | None]:
    """Each node's latest throughput on a case divided by the median over the nodes of its fingerprint on that
    case (itself included); None where the node is alone on its hardware for that case (no fleet to judge by)."""
    fleets: dict[tuple[str, str], list[float]] = {}
    for (_, fingerprint, case), value in latest.items():
        fleets.setdefault((fingerprint, case), []).append(value)
    centres = {key: statistics.median(values) for key, values in fleets.items() if len(values) > 1}
    return {key: (value / centre if (centre := centres.get((key[1], key[2]))) else None)
            for key, value in latest.items()}
