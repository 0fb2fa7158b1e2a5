"""Fleet jobs in the results database: what was submitted where, what each task did, and the node results of a job.

A fleet job is written before it is submitted (every task "submitted", pinned to its node), so that a node that
never reports stays in the store as missing. Each task marks itself running, then done with the invocation its
validate stored; a resubmission of the missing indexes appends the scheduler's new job id and resets those tasks.
Reading a job back gives ``NodeRuns`` for the fleet analysis (bench/analysis/fleet.py): per node the fingerprint
of the invocation it stored and, per case, the step time of each measured run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from bench.analysis.fleet import NodeRuns
from bench.store import schema
from bench.store.writer import insert_ignoring_duplicates
from envcheck.stamps import now_iso


class FleetJobError(LookupError):
    """No fleet job by that name: the message says how to list them."""


@dataclasses.dataclass(frozen=True)
class FleetJob:
    fleet_key: str
    scheduler: str
    scheduler_jobs: tuple[str, ...]
    tier: int
    submitted: str
    partition: str | None
    nodes: tuple[str, ...]
    options: dict


@dataclasses.dataclass(frozen=True)
class FleetTask:
    index: int
    node: str
    ran_on: str | None
    state: str  # submitted, running, done
    scheduler_job: str | None
    attempts: int
    started: str | None
    finished: str | None
    exit_code: int | None
    verdict: str | None
    invocation_key: str | None


def create_job(engine: Engine, job: FleetJob) -> None:
    """The job and one "submitted" task per node, in one transaction (before the scheduler sees it)."""
    with engine.begin() as connection:
        job_id = connection.execute(schema.fleet_job.insert().values(
            fleet_key=job.fleet_key, scheduler=job.scheduler, scheduler_jobs=list(job.scheduler_jobs), tier=job.tier,
            submitted=job.submitted, partition=job.partition, nodes=list(job.nodes), options=job.options)
            .returning(schema.fleet_job.c.id)).scalar_one()
        if job.nodes:
            connection.execute(schema.fleet_task.insert(), [
                {"fleet_job_id": job_id, "task_index": index, "node": node, "state": "submitted", "attempts": 0}
                for index, node in enumerate(job.nodes)])


def _job_id(connection, fleet_key: str) -> int:
    found = connection.execute(select(schema.fleet_job.c.id).where(schema.fleet_job.c.fleet_key == fleet_key)).first()
    if found is None:
        raise FleetJobError(f"no fleet job {fleet_key!r} in the results database")
    return found[0]


def add_scheduler_job(engine: Engine, fleet_key: str, scheduler_job: str, indexes: Sequence[int]) -> None:
    """A (re)submission's job id appended; its tasks back to "submitted" with one more attempt."""
    job, task = schema.fleet_job, schema.fleet_task
    with engine.begin() as connection:
        job_id = _job_id(connection, fleet_key)
        jobs = connection.execute(select(job.c.scheduler_jobs).where(job.c.id == job_id)).scalar_one()
        connection.execute(update(job).where(job.c.id == job_id).values(scheduler_jobs=[*jobs, scheduler_job]))
        connection.execute(update(task).where(task.c.fleet_job_id == job_id, task.c.task_index.in_(list(indexes)))
                           .values(state="submitted", attempts=task.c.attempts + 1, started=None, finished=None,
                                   exit_code=None, verdict=None, invocation_key=None))


def delete_job(engine: Engine, fleet_key: str) -> None:
    """Undo create_job when the scheduler refused the submission (nothing ran)."""
    with engine.begin() as connection:
        job_id = _job_id(connection, fleet_key)
        connection.execute(schema.fleet_task.delete().where(schema.fleet_task.c.fleet_job_id == job_id))
        connection.execute(schema.fleet_job.delete().where(schema.fleet_job.c.id == job_id))


def register_task(engine: Engine, fleet_key: str, index: int, node: str, tier: int, scheduler: str) -> None:
    """A task that finds no job of its own in the store (a Kubernetes pod: its manifest wrote nothing there)
    records the job and itself; a no-op for tasks already there."""
    job, task = schema.fleet_job, schema.fleet_task
    with engine.begin() as connection:
        found = connection.execute(select(job.c.id).where(job.c.fleet_key == fleet_key)).first()
        if found is None:
            connection.execute(insert_ignoring_duplicates(connection, job, ("fleet_key",)), {
                "fleet_key": fleet_key, "scheduler": scheduler, "scheduler_jobs": [], "tier": tier,
                "submitted": now_iso(), "partition": None, "nodes": [], "options": {}})
        job_id = _job_id(connection, fleet_key)
        connection.execute(insert_ignoring_duplicates(connection, task, ("fleet_job_id", "task_index")), {
            "fleet_job_id": job_id, "task_index": index, "node": node, "state": "submitted", "attempts": 1})


def task_started(engine: Engine, fleet_key: str, index: int, ran_on: str | None, scheduler_job: str | None) -> None:
    task = schema.fleet_task
    with engine.begin() as connection:
        job_id = _job_id(connection, fleet_key)
        done = connection.execute(update(task).where(task.c.fleet_job_id == job_id, task.c.task_index == index)
                                  .values(state="running", ran_on=ran_on, scheduler_job=scheduler_job,
                                          started=now_iso(), finished=None, exit_code=None, verdict=None,
                                          invocation_key=None))
        if done.rowcount != 1:
            raise FleetJobError(f"fleet job {fleet_key!r} has no task {index}")


def task_finished(engine: Engine, fleet_key: str, index: int, exit_code: int, verdict: str | None,
                  invocation_key: str | None) -> None:
    task = schema.fleet_task
    with engine.begin() as connection:
        job_id = _job_id(connection, fleet_key)
        connection.execute(update(task).where(task.c.fleet_job_id == job_id, task.c.task_index == index)
                           .values(state="done", finished=now_iso(), exit_code=exit_code, verdict=verdict,
                                   invocation_key=invocation_key))


def find_job(engine: Engine, reference: str) -> FleetJob:
    """A fleet job by its fleet key or by any scheduler job id it was submitted as (Slurm's array job id)."""
    job = schema.fleet_job
    with engine.connect() as connection:
        rows = connection.execute(select(job).order_by(job.c.submitted.desc())).mappings().all()
    for row in rows:
        if row["fleet_key"] == reference or reference in [str(one) for one in row["scheduler_jobs"]]:
            return FleetJob(row["fleet_key"], row["scheduler"], tuple(map(str, row["scheduler_jobs"])), row["tier"],
                            row["submitted"], row["partition"], tuple(row["nodes"]), dict(row["options"]))
    raise FleetJobError(f"no fleet job {reference!r} in the results database (a fleet key or a Slurm job id "
                        "printed by `bench fleet submit`)")


def tasks_of(engine: Engine, fleet_key: str) -> list[FleetTask]:
    task = schema.fleet_task
    with engine.connect() as connection:
        job_id = _job_id(connection, fleet_key)
        rows = connection.execute(select(task).where(task.c.fleet_job_id == job_id).order_by(task.c.task_index))
        return [_task(row) for row in rows.mappings()]


def _task(row) -> FleetTask:
    return FleetTask(row["task_index"], row["node"], row["ran_on"], row["state"], row["scheduler_job"],
                     row["attempts"], row["started"], row["finished"], row["exit_code"], row["verdict"],
                     row["invocation_key"])


def tasks_since(engine: Engine, since: str) -> list[FleetTask]:
    """The latest finished task of each node over every fleet job finished at or after ``since`` (ISO, UTC)."""
    task = schema.fleet_task
    with engine.connect() as connection:
        rows = connection.execute(select(task).where(task.c.finished >= since, task.c.state == "done")
                                  .order_by(task.c.finished)).mappings().all()
    latest = {row["node"]: _task(row) for row in rows}
    return [latest[node] for node in sorted(latest)]


def node_results(engine: Engine, tasks: Sequence[FleetTask]) -> list[NodeRuns]:
    """The fleet analysis' input from the tasks that stored an invocation: the node it was pinned to, the
    invocation's fingerprint and fields, each case's measured run step times, and why it broke (validate said
    broken, a case not measured, or validate's exit code 1)."""
    inv, machine, run, verdict = schema.invocation, schema.machine, schema.run_result, schema.validate_verdict
    by_key = {task.invocation_key: task for task in tasks if task.invocation_key}
    if not by_key:
        return []
    found: dict[str, dict] = {}
    with engine.connect() as connection:
        heads = connection.execute(
            select(inv.c.id, inv.c.invocation_key, machine.c.fingerprint, machine.c.fields, verdict.c.verdict,
                   verdict.c.reasons)
            .select_from(inv.join(machine, machine.c.id == inv.c.machine_id)
                         .outerjoin(verdict, verdict.c.invocation_id == inv.c.id))
            .where(inv.c.invocation_key.in_(list(by_key))))
        ids = {}
        for row in heads:
            ids[row.id] = row.invocation_key
            broken = list(row.reasons or []) if row.verdict == "broken" else []
            found[row.invocation_key] = {"fingerprint": row.fingerprint,
                                         "fields": tuple(tuple(pair) for pair in row.fields), "steps": {},
                                         "broken": broken}
        if ids:
            for row in connection.execute(select(run.c.invocation_id, run.c.case_key, run.c.status, run.c.step_s)
                                          .where(run.c.invocation_id.in_(list(ids)))
                                          .order_by(run.c.invocation_id, run.c.case_key, run.c.run_index)):
                entry = found[ids[row.invocation_id]]
                if row.status == "ok" and row.step_s is not None:
                    entry["steps"].setdefault(row.case_key, []).append(row.step_s)
                elif row.status != "skipped":
                    entry["broken"].append(f"{row.case_key} run {row.status}")
    results = []
    for key, entry in found.items():
        task = by_key[key]
        broken = entry["broken"] or ([f"validate exited {task.exit_code} (broken)"] if task.exit_code == 1 else [])
        results.append(NodeRuns(task.node, entry["fingerprint"], entry["fields"],
                                {case: tuple(times) for case, times in entry["steps"].items()},
                                tuple(dict.fromkeys(broken))))
    return sorted(results, key=lambda node: node.node)


def node_history(engine: Engine, tasks: Sequence[FleetTask], count: int) -> dict[str, dict[str, list[float]]]:
    """Each task's node's own history: per case, the stored step time (median of its runs) of the node's last
    ``count`` fleet validations that started before this task's (any fleet job, oldest first), on the same history
    key (the same case on the same hardware fingerprint and setup: a node moved to another driver starts anew)."""
    task, inv, cr = schema.fleet_task, schema.invocation, schema.case_result
    current = {t.node: t.invocation_key for t in tasks if t.invocation_key}
    if not current or count < 1:
        return {}
    with engine.connect() as connection:
        validations = connection.execute(
            select(task.c.node, inv.c.invocation_key, inv.c.started)
            .select_from(task.join(inv, inv.c.invocation_key == task.c.invocation_key))
            .where(task.c.node.in_(list(current)), task.c.state == "done")
            .order_by(inv.c.started, inv.c.invocation_key)).all()
        started = {key: when for node, key, when in validations if current.get(node) == key}
        earlier: dict[str, list[str]] = {}
        for node, key, when in validations:
            mine = started.get(current[node])
            if mine is not None and key != current[node] and when < mine and key not in earlier.get(node, ()):
                earlier.setdefault(node, []).append(key)
        wanted = {key: node for node, keys in earlier.items() for key in keys[-count:]}
        if not wanted:
            return {}
        owners = {key: node for node, key in current.items()}
        rows = connection.execute(
            select(inv.c.invocation_key, cr.c.case_key, cr.c.history_key, cr.c.step_s)
            .select_from(cr.join(inv, inv.c.id == cr.c.invocation_id))
            .where(inv.c.invocation_key.in_([*wanted, *owners]), cr.c.status == "ok", cr.c.step_s.is_not(None))
            .order_by(inv.c.started, inv.c.invocation_key)).all()
    history_keys = {(owners[key], case): history for key, case, history, _ in rows if key in owners}
    found: dict[str, dict[str, list[float]]] = {}
    for key, case, history, step_s in rows:
        node = wanted.get(key)
        if node is not None and history_keys.get((node, case)) == history:
            found.setdefault(node, {}).setdefault(case, []).append(step_s)
    return found
