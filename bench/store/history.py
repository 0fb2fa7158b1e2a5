"""Reading series out of the results database: a case's history on a machine, in order of invocation start.

A series is one history key (a case on one hardware fingerprint in one software context); each point is a case
result of one invocation, with the software it ran on, so that a reader can show what changed along it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import zlib
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bench.analysis.baselines import Coverage
from bench.results.report import Report
from bench.store import schema

SOFTWARE_FIELDS = ("python", "torch", "cuda", "cudnn", "driver")


@dataclasses.dataclass(frozen=True)
class Software:
    python: str | None
    torch: str | None
    cuda: str | None
    cudnn: str | None
    driver: str | None

    def differences(self, other: Software) -> list[tuple[str, str | None, str | None]]:
        """(field, before, after) for each field that differs from ``other`` (the earlier one)."""
        return [(name, getattr(other, name), getattr(self, name)) for name in SOFTWARE_FIELDS
                if getattr(self, name) != getattr(other, name)]


@dataclasses.dataclass(frozen=True)
class Point:
    """One case result in a series."""

    invocation_key: str
    started: str
    hostname: str | None
    status: str
    step_s: float | None
    items_per_s: float | None
    unit: str | None
    noisy: bool
    runs: int
    software: Software
    run_spread_cv: float | None = None  # between-run CV of the step time (the site's band around the median)


@dataclasses.dataclass(frozen=True)
class Series:
    history_key: str
    case_key: str
    fingerprint: str
    context: dict[str, str]
    points: list[Point]

    @property
    def measured(self) -> list[Point]:
        return [point for point in self.points if point.step_s is not None and point.status == "ok"]

    @property
    def quiet(self) -> list[Point]:
        """The measured points whose machine was quiet: a noisy case is noisy, never slower (rule 11), so change
        points are found among these only."""
        return [point for point in self.measured if not point.noisy]


@dataclasses.dataclass(frozen=True)
class Query:
    """Which series to read: a case, a machine (fingerprint), or both; points started at or after ``since``."""

    case_key: str | None = None
    fingerprint: str | None = None
    since: str | None = None  # ISO 8601 date or time (compared as UTC text)

    def __post_init__(self) -> None:
        if not (self.case_key or self.fingerprint):
            raise ValueError("a history query needs a case key or a machine fingerprint")


def series(engine: Engine, query: Query) -> list[Series]:
    """Every series the query matches, each in order of invocation start (then invocation key)."""
    hk, cr, inv, sw = schema.history_key, schema.case_result, schema.invocation, schema.software
    statement = (select(hk.c.history_key, hk.c.case_key, hk.c.fingerprint, hk.c.context, inv.c.invocation_key,
                        inv.c.started, inv.c.hostname, cr.c.status, cr.c.step_s, cr.c.items_per_s, cr.c.unit,
                        cr.c.noisy, cr.c.runs, sw.c.python, sw.c.torch, sw.c.cuda, sw.c.cudnn, sw.c.driver)
                 .select_from(hk.join(cr, cr.c.history_key == hk.c.history_key)
                              .join(inv, inv.c.id == cr.c.invocation_id)
                              .join(sw, sw.c.id == inv.c.software_id))
                 .order_by(hk.c.case_key, hk.c.fingerprint, hk.c.history_key, inv.c.started, inv.c.invocation_key))
    if query.case_key:
        statement = statement.where(hk.c.case_key == query.case_key)
    if query.fingerprint:
        statement = statement.where(hk.c.fingerprint == query.fingerprint)
    if query.since:
        statement = statement.where(inv.c.started >= query.since)
    found: dict[str, Series] = {}
    with engine.connect() as connection:
        for row in connection.execute(statement):
            one = found.get(row.history_key)
            if one is None:
                one = found[row.history_key] = Series(row.history_key, row.case_key, row.fingerprint,
                                                      dict(row.context), [])
            one.points.append(Point(row.invocation_key, row.started, row.hostname, row.status, row.step_s,
                                    row.items_per_s, row.unit, bool(row.noisy), row.runs,
                                    Software(row.python, row.torch, row.cuda, row.cudnn, row.driver)))
    return list(found.values())


def stored_reports(engine: Engine, *, batch: int = 100) -> Iterator[tuple[str, str, Report]]:
    """(invocation key, kind, report) of every stored invocation, in order of start: the export's source."""
    inv = schema.invocation
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=batch).execute(
            select(inv.c.invocation_key, inv.c.kind, inv.c.report).order_by(inv.c.started, inv.c.invocation_key))
        for key, kind, blob in result:
            text = zlib.decompress(blob).decode()
            yield key, kind, Report.from_json(json.loads(text))


@dataclasses.dataclass(frozen=True)
class SeriesChange:
    """A change point of a series, where it happened, and what else changed there."""

    series: Series
    point: Point  # the first invocation after the shift
    previous: Point  # the last one before it
    magnitude: float  # step time ratio less one: +0.04 is 4 % slower
    pvalue: float
    before_s: float  # geometric mean step time of the segment before the shift
    after_s: float  # ... and of the segment after it
    differences: list[tuple[str, str | None, str | None]]  # software (and host) between previous and point


def point_differences(previous: Point, point: Point) -> list[tuple[str, str | None, str | None]]:
    found = point.software.differences(previous.software)
    if point.hostname != previous.hostname:
        found.append(("host", previous.hostname, point.hostname))
    return found


def software_changes(one: Series) -> list[tuple[int, list[tuple[str, str | None, str | None]]]]:
    """(index into the measured points, differences) wherever the software or host changed along the series."""
    points = one.measured
    return [(i, diffs) for i in range(1, len(points)) if (diffs := point_differences(points[i - 1], points[i]))]


def series_changes(one: Series, settings=None) -> list[SeriesChange]:
    """The change points of the log of the series' median step times (bench/analysis/changes.py)."""
    from bench.analysis.changes import change_points

    points = one.quiet
    found = change_points([math.log(point.step_s) for point in points], settings)
    return [SeriesChange(one, points[c.index], points[c.index - 1], c.magnitude, c.pvalue, math.exp(c.before),
                         math.exp(c.after), point_differences(points[c.index - 1], points[c.index])) for c in found]


def baseline_from_history(engine: Engine, report: Report, count: int,
                          needed_sittings: int | None = None) -> tuple[list[Report], Coverage]:
    """The most recent stored invocations on ``report``'s hardware fingerprint (itself excluded, and those
    without a measured case), at least ``count`` of them and reaching back until they span
    ``needed_sittings`` sittings (config.MIN_BASELINE_SITTINGS) or the history runs out; oldest first, with
    their coverage (bench/analysis/baselines.py)."""
    from bench import config
    from bench.analysis.baselines import coverage, sittings
    from bench.store.rows import invocation_key

    needed = config.MIN_BASELINE_SITTINGS if needed_sittings is None else needed_sittings
    inv, machine = schema.invocation, schema.machine
    own = invocation_key(report)
    statement = (select(inv.c.report).select_from(inv.join(machine, machine.c.id == inv.c.machine_id))
                 .where(machine.c.fingerprint == report.fingerprint.id, inv.c.invocation_key != own,
                        inv.c.state != schema.RUNNING)
                 .order_by(inv.c.started.desc(), inv.c.invocation_key.desc()))
    chosen: list[Report] = []
    with engine.connect() as connection:
        for (blob,) in connection.execution_options(yield_per=20).execute(statement):
            stored = Report.from_json(json.loads(zlib.decompress(blob).decode()))
            if not stored.ok_cases():
                continue
            chosen.append(stored)
            if len(chosen) >= count and len(sittings(chosen)) >= needed:
                break
    chosen.reverse()
    return chosen, coverage(chosen, needed=needed)


def recent_changes(engine: Engine, fingerprint: str, last: int = 10) -> list[SeriesChange]:
    """Change points among the last ``last`` measured invocations of each series on this hardware (validate
    mentions them: a machine that got slower last week is news even when today's run is within its baseline)."""
    found = []
    for one in series(engine, Query(fingerprint=fingerprint)):
        tail = {point.invocation_key for point in one.quiet[-last:]}
        found += [change for change in series_changes(one) if change.point.invocation_key in tail]
    return found


def run_steps(engine: Engine, one: Series) -> dict[str, list[float]]:
    """Invocation key -> the median step time of each measured run of the series' case in it (the spread a
    point's median comes from), for `bench history --plot`."""
    cr, rr, inv = schema.case_result, schema.run_result, schema.invocation
    statement = (select(inv.c.invocation_key, rr.c.step_s)
                 .select_from(cr.join(inv, inv.c.id == cr.c.invocation_id)
                              .join(rr, (rr.c.invocation_id == cr.c.invocation_id) & (rr.c.case_key == cr.c.case_key)))
                 .where(cr.c.history_key == one.history_key, rr.c.step_s.is_not(None))
                 .order_by(inv.c.invocation_key, rr.c.run_index))
    found: dict[str, list[float]] = {}
    with engine.connect() as connection:
        for key, step in connection.execute(statement):
            found.setdefault(key, []).append(step)
    return found
