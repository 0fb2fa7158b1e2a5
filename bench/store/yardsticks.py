"""A report's cases against the results database: the fleet's median for the same hardware fingerprint (each
host's latest quiet result, so that a host measured often does not outvote the others) and this host's own
history. Used by `bench micro` to say each figure as a fraction of its fleet and of its past; CPUs have no
datasheet, so this is their only yardstick (bench/results/datasheets.py holds the GPUs').
"""

from __future__ import annotations

import dataclasses
import statistics

from sqlalchemy.engine import Engine

from bench import config
from bench.results.report import Report
from bench.store.history import Query, series
from bench.store.rows import invocation_key


@dataclasses.dataclass(frozen=True)
class Yardstick:
    """A case's rate (items/s) against its fleet and its host's history; None where there is none to go by."""

    key: str
    items_per_s: float | None
    fleet_median: float | None
    fleet_hosts: int
    history_median: float | None
    history_points: int

    @property
    def of_fleet(self) -> float | None:
        return self.items_per_s / self.fleet_median if self.items_per_s and self.fleet_median else None

    @property
    def of_history(self) -> float | None:
        return self.items_per_s / self.history_median if self.items_per_s and self.history_median else None


def yardsticks(engine: Engine, report: Report) -> list[Yardstick]:
    """Each measured case of ``report`` against the stored results of its fingerprint (the report itself, if it
    is stored already, left out). A fleet needs config.FLEET_MIN_HOSTS hosts besides this one."""
    fingerprint, host = report.fingerprint.id, report.environment.facts.system.hostname
    own = invocation_key(report)
    found = []
    for record in report.ok_cases():
        latest: dict[str, float] = {}
        history: list[float] = []
        for one in series(engine, Query(record.key, fingerprint)):
            for point in one.quiet:
                if point.invocation_key == own or point.items_per_s is None:
                    continue
                if point.hostname == host:
                    history.append(point.items_per_s)
                else:
                    latest[point.hostname or "?"] = point.items_per_s  # in order of start: the last one stays
        fleet = list(latest.values())
        enough = len(fleet) >= config.FLEET_MIN_HOSTS
        found.append(Yardstick(record.key, record.items_per_s, statistics.median(fleet) if enough else None,
                               len(fleet), statistics.median(history) if history else None, len(history)))
    return found
