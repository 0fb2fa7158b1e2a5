"""What `bench publish` reads from the results database: nodes, their verdicts, and each case's series.

A *node* is one host on one hardware fingerprint (a fleet has many nodes per fingerprint; the ``machine`` table
holds fingerprints); what a fleet task stored belongs to the task's node, as in `bench fleet report`. A case's
series are the store's own (history.Series: a case on a fingerprint in a software context), read one case at a
time so that a large store is never held whole; each point carries what the site shows beside it (the run spread,
the invocation). Nothing here renders or decides.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bench.results.report import Report
from bench.store import schema
from bench.store.history import Point, Series, Software

UNKNOWN_HOST = "(unknown host)"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """validate's verdict about one invocation of a node."""

    verdict: str  # healthy, broken, degraded, inconclusive
    started: str
    invocation_key: str
    reasons: list[str]


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str | None


@dataclasses.dataclass(frozen=True)
class EnvcheckRun:
    """One stored envcheck JSON of a node, with its checks."""

    created: str
    verdict: str  # PASS, WARN, FAIL
    checks: list[Check]


@dataclasses.dataclass(frozen=True)
class Node:
    hostname: str
    fingerprint: str
    device: str
    device_name: str
    fields: list[list]  # the fingerprint's hashed fields
    first_seen: str
    last_seen: str
    invocations: int
    verdicts: list[Verdict]  # oldest first
    envchecks: list[EnvcheckRun]  # oldest first

    @property
    def key(self) -> tuple[str, str]:
        return self.hostname, self.fingerprint

    @property
    def hardware(self) -> str:
        """What the fingerprint says the hardware is: its GPUs, else its CPU model."""
        fields = {name: value for name, value in self.fields}
        return str(fields.get("gpu") or fields.get("cpu") or self.device_name)

    @property
    def last_verdict(self) -> Verdict | None:
        return self.verdicts[-1] if self.verdicts else None

    @property
    def last_envcheck(self) -> EnvcheckRun | None:
        return self.envchecks[-1] if self.envchecks else None


@dataclasses.dataclass(frozen=True)
class Invocation:
    """What hovering a point shows: which invocation measured it."""

    key: str
    kind: str
    started: str
    hostname: str
    fingerprint: str
    label: str | None
    suite: str | None
    setup_label: str | None
    argv: list[str]
    software: Software
    id: int  # its row in the store (case results name it)


@dataclasses.dataclass(frozen=True)
class CaseSeries:
    """Every series of one case."""

    case_key: str
    series: list[Series]


def host(name: str | None) -> str:
    return name or UNKNOWN_HOST


def case_keys(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(schema.history_key.c.case_key).distinct()
                                       .order_by(schema.history_key.c.case_key)).scalars())


def node_name():
    """A node's name: the fleet's, for an invocation that a fleet task stored (the node Slurm or Kubernetes ran it
    on: a pod's hostname is the pod's, and a local test cluster's nodes share one host), else the host's."""
    return func.coalesce(schema.fleet_task.c.node, schema.invocation.c.hostname).label("hostname")


def with_fleet_tasks(joined):
    """``joined`` (holding the invocation table) with the fleet task that stored each invocation, if any."""
    task = schema.fleet_task
    return joined.outerjoin(task, task.c.invocation_key == schema.invocation.c.invocation_key)


def fleet_task_windows(connection):
    """(hostname, created) -> the fleet node whose task was running on that host then (validate's envcheck is
    stored apart from its invocation, with the host's name only), else the hostname; a time that two tasks on one
    host share (a local cluster running them at once) stays the host's."""
    task, inv = schema.fleet_task, schema.invocation
    windows: dict[str | None, list[tuple[str, str, str]]] = {}
    for host, started, finished, node in connection.execute(
            select(inv.c.hostname, task.c.started, task.c.finished, task.c.node)
            .select_from(task.join(inv, inv.c.invocation_key == task.c.invocation_key))
            .where(task.c.started.is_not(None), task.c.finished.is_not(None))):
        windows.setdefault(host, []).append((started, finished, node))

    def node_of(host: str | None, created: str) -> str | None:
        inside = {node for started, finished, node in windows.get(host, ()) if started <= created <= finished}
        return inside.pop() if len(inside) == 1 else host

    return node_of


def nodes(engine: Engine) -> list[Node]:
    """Every (host, fingerprint) that ran an invocation or an envcheck, with its verdicts (sorted by host)."""
    inv, machine, vv = schema.invocation, schema.machine, schema.validate_verdict
    er, res = schema.envcheck_report, schema.envcheck_result
    with engine.connect() as connection:
        machines = {row.id: row for row in connection.execute(select(machine))}
        seen: dict[tuple[int, str | None], list] = {}
        name = node_name()
        for row in connection.execute(select(inv.c.machine_id, name, func.min(inv.c.started),
                                             func.max(inv.c.started), func.count())
                                      .select_from(with_fleet_tasks(inv))
                                      .group_by(inv.c.machine_id, name)):
            seen[(row[0], row[1])] = [row[2], row[3], row[4]]
        verdicts: dict[tuple[int, str | None], list[Verdict]] = {}
        for row in connection.execute(select(inv.c.machine_id, name, inv.c.started, inv.c.invocation_key,
                                             vv.c.verdict, vv.c.reasons)
                                      .select_from(with_fleet_tasks(vv.join(inv, inv.c.id == vv.c.invocation_id)))
                                      .order_by(inv.c.started, inv.c.invocation_key)):
            verdicts.setdefault((row.machine_id, row.hostname), []).append(
                Verdict(row.verdict, row.started, row.invocation_key, list(row.reasons or [])))
        checks: dict[int, list[Check]] = {}
        for row in connection.execute(select(res).order_by(res.c.envcheck_id, res.c.id)):
            checks.setdefault(row.envcheck_id, []).append(Check(row.name, row.status, row.detail, row.fix))
        task_node = fleet_task_windows(connection)
        envchecks: dict[tuple[int, str | None], list[EnvcheckRun]] = {}
        for row in connection.execute(select(er.c.id, er.c.machine_id, er.c.hostname, er.c.created, er.c.verdict)
                                      .order_by(er.c.created, er.c.id)):
            key = (row.machine_id, task_node(row.hostname, row.created))
            envchecks.setdefault(key, []).append(EnvcheckRun(row.created, row.verdict, checks.get(row.id, [])))
            first, last, count = seen.get(key, [row.created, row.created, 0])
            seen[key] = [min(first, row.created), max(last, row.created), count]
    found = []
    for (machine_id, hostname), (first, last, count) in seen.items():
        row = machines[machine_id]
        found.append(Node(host(hostname), row.fingerprint, row.device, row.device_name, list(row.fields), first, last,
                          count, verdicts.get((machine_id, hostname), []),
                          envchecks.get((machine_id, hostname), [])))
    return sorted(found, key=lambda node: (node.hostname, node.fingerprint))


def invocations(engine: Engine) -> list[Invocation]:
    """Every invocation (oldest first), for the hover of the points it measured."""
    inv, sw, machine = schema.invocation, schema.software, schema.machine
    statement = (select(inv.c.invocation_key, inv.c.kind, inv.c.started, node_name(), machine.c.fingerprint,
                        inv.c.label, inv.c.suite, inv.c.setup_label, inv.c.argv, sw.c.python, sw.c.torch, sw.c.cuda,
                        sw.c.cudnn, sw.c.driver, inv.c.id)
                 .select_from(with_fleet_tasks(inv.join(sw, sw.c.id == inv.c.software_id)
                                               .join(machine, machine.c.id == inv.c.machine_id)))
                 .order_by(inv.c.started, inv.c.invocation_key))
    software: dict[tuple, Software] = {}
    found = []
    with engine.connect() as connection:
        for row in connection.execution_options(yield_per=5000).execute(statement):
            fields = (row.python, row.torch, row.cuda, row.cudnn, row.driver)
            one = software.get(fields) or software.setdefault(fields, Software(*fields))
            found.append(Invocation(row.invocation_key, row.kind, row.started, host(row.hostname), row.fingerprint,
                                    row.label, row.suite, row.setup_label, list(row.argv or []), one, row.id))
    return found


def case_series(engine: Engine, case_key: str, invocations: Mapping[int, Invocation]) -> CaseSeries:
    """The case's series (each in order of invocation start, as history.series). ``invocations``: every invocation
    by its id (from ``invocations``, read once per publish): a case's rows are read without joining the invocation
    and software tables, so that a store of millions of case results is read at the speed of its case_result rows."""
    hk, cr = schema.history_key, schema.case_result
    with engine.connect() as connection:
        keys = connection.execute(select(hk.c.history_key, hk.c.fingerprint, hk.c.context)
                                  .where(hk.c.case_key == case_key).order_by(hk.c.fingerprint, hk.c.history_key))
        found = {key: Series(key, case_key, fingerprint, dict(context or {}), [])
                 for key, fingerprint, context in keys}
        statement = (select(cr.c.history_key, cr.c.invocation_id, cr.c.status, cr.c.step_s, cr.c.items_per_s,
                            cr.c.unit, cr.c.noisy, cr.c.runs, cr.c.run_spread_cv)
                     .select_from(cr.join(hk, hk.c.history_key == cr.c.history_key))
                     .where(hk.c.case_key == case_key))
        for history_key, invocation_id, status, step_s, items_per_s, unit, noisy, runs, spread in (
                connection.execution_options(yield_per=20000).execute(statement)):
            inv = invocations[invocation_id]
            found[history_key].points.append(Point(inv.key, inv.started, inv.hostname, status, step_s, items_per_s,
                                                   unit, bool(noisy), runs, inv.software, spread))
    for one in found.values():
        one.points.sort(key=lambda point: (point.started, point.invocation_key))
    return CaseSeries(case_key, [one for one in found.values() if one.points])


def stored_report(engine: Engine, invocation_key: str) -> Report:
    """The report an invocation stored (its own JSON), through the report model."""
    inv = schema.invocation
    with engine.connect() as connection:
        blob = connection.execute(select(inv.c.report).where(inv.c.invocation_key == invocation_key)).scalar_one()
    return Report.from_json(json.loads(zlib.decompress(blob).decode()))
