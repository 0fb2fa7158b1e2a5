"""`bench fleet`: validate every node of a fleet through its own scheduler, and judge the nodes against each other.

The glue between the scheduler (bench/run/slurm.py, bench/run/kubernetes.py), the results database
(bench/store/fleet.py) and the analysis (bench/analysis/fleet.py); nothing here prints (bench/render/fleet.py does).

- submit: the job and its tasks go into the store first (every node "submitted"), then to Slurm;
- status: per node done / running / pending / missing, from the store and from Slurm, with Slurm's reason;
- resubmit --missing: only the indexes that are missing (failed, timed out, cancelled, never ran);
- report: the node results in the store, judged against their fleet, each beside its own earlier validations;
  missing nodes with their reason.
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import config
from bench.analysis.fleet import FleetReport, FleetSettings, NodeHistory, judge_fleet, node_histories
from bench.run import slurm
from bench.store import fleet as store
from envcheck.stamps import now_iso


def new_fleet_key() -> str:
    """Known before submission (the tasks name it): UTC time and a random suffix."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


@dataclasses.dataclass(frozen=True)
class Submitted:
    job: store.FleetJob
    scheduler_job: str
    indexes: tuple[int, ...]


def submit_slurm(engine, request: slurm.SubmitRequest, runner: slurm.Runner | None = None) -> Submitted:
    """Record the job and its tasks, then submit the array (undone in the store if Slurm refuses it)."""
    job = store.FleetJob(request.fleet_key, "slurm", (), request.tier, now_iso(), request.partition, request.nodes,
                         {"time_minutes": request.time_minutes, "out": str(request.out),
                          "validate_args": list(request.validate_args), "python": request.python,
                          "array_limit": request.array_limit})
    store.create_job(engine, job)
    try:
        scheduler_job = slurm.submit(request, runner=runner)
    except slurm.SlurmError:
        store.delete_job(engine, request.fleet_key)
        raise
    indexes = tuple(range(len(request.nodes)))
    store.add_scheduler_job(engine, request.fleet_key, scheduler_job, indexes)
    return Submitted(store.find_job(engine, request.fleet_key), scheduler_job, indexes)


@dataclasses.dataclass(frozen=True)
class NodeStatus:
    index: int
    node: str
    status: str  # done, running, pending, missing
    detail: str  # the verdict, Slurm's reason, ...
    task: store.FleetTask


def fleet_status(engine, reference: str, runner: slurm.Runner | None = None) -> tuple[store.FleetJob,
                                                                                      list[NodeStatus]]:
    job = store.find_job(engine, reference)
    tasks = store.tasks_of(engine, job.fleet_key)
    elements = slurm.element_states(job.scheduler_jobs, runner) if job.scheduler == "slurm" else {}
    out = []
    for task in tasks:
        element = elements.get(task.index)
        if task.state == "done":
            out.append(NodeStatus(task.index, task.node, "done", f"{task.verdict or '?'} (exit {task.exit_code})",
                                  task))
        elif element is not None and element.active:
            running = element.state == "RUNNING" or task.state == "running"
            why = f"{element.state}" + (f": {element.reason}" if element.reason else "")
            out.append(NodeStatus(task.index, task.node, "running" if running else "pending", why, task))
        else:
            why = missing_reason(task, element, runner, job.scheduler)
            out.append(NodeStatus(task.index, task.node, "missing", why, task))
    return job, out


def missing_reason(task: store.FleetTask, element: slurm.ElementState | None, runner, scheduler: str = "slurm") -> str:
    """Why a task never reported: Slurm's end state and reason, the node's own state when it is down."""
    if scheduler != "slurm":
        return (f"no result in the store (index {task.index}; see kubectl get pods -l batch.kubernetes.io/"
                f"job-completion-index={task.index})")
    if element is None:
        what = "Slurm has no record of it (forgotten after MinJobAge, or never submitted)"
    else:
        what = f"Slurm: {element.state}" + (f" ({element.reason})" if element.reason else "")
        if element.exit_code and element.exit_code not in ("0:0",):
            what += f", exit {element.exit_code}"
    if task.state == "running":
        what += f"; it started at {task.started} on {task.ran_on or task.node} and never finished"
    node = slurm.node_state(task.node, runner)
    if node and not node.startswith(("idle", "mixed", "allocated", "completing")):
        what += f"; node {task.node} is {node}"
    return what


def resubmit_missing(engine, reference: str, runner: slurm.Runner | None = None) -> Submitted | None:
    """A new array of only the missing indexes, pinned to the same nodes; None when none is missing."""
    job, statuses = fleet_status(engine, reference, runner)
    indexes = tuple(s.index for s in statuses if s.status == "missing")
    if not indexes:
        return None
    options = job.options
    request = slurm.SubmitRequest(job.fleet_key, job.nodes, job.tier, int(options["time_minutes"]),
                                  Path(options["out"]), job.partition, tuple(options.get("validate_args", ())),
                                  options.get("python") or sys.executable, array_limit=options.get("array_limit"))
    scheduler_job = slurm.submit(request, indexes, runner)
    store.add_scheduler_job(engine, job.fleet_key, scheduler_job, indexes)
    return Submitted(store.find_job(engine, job.fleet_key), scheduler_job, indexes)


def settings_for(nodes, slower_pct: float | None) -> FleetSettings:
    """The threshold given, else the device class's (config.FLEET_SLOWER_PCT) of the fleet's nodes."""
    if slower_pct is not None:
        return FleetSettings(slower_pct=slower_pct)
    devices = {dict(node.fields).get("device", "cpu") for node in nodes}
    device = "cuda" if devices == {"cuda"} else "cpu"
    return FleetSettings(slower_pct=config.FLEET_SLOWER_PCT[device])


@dataclasses.dataclass(frozen=True)
class Judged:
    report: FleetReport
    job: store.FleetJob | None
    tasks: int
    history: dict[str, NodeHistory]  # node -> against its own last config.FLEET_HISTORY_RUNS validations


def histories(engine, tasks, nodes) -> dict[str, NodeHistory]:
    return node_histories(nodes, store.node_history(engine, tasks, config.FLEET_HISTORY_RUNS))


def report_job(engine, reference: str, slower_pct: float | None = None,
               runner: slurm.Runner | None = None) -> Judged:
    """The fleet analysis of one job: every node it was submitted to, missing ones with Slurm's reason."""
    job, statuses = fleet_status(engine, reference, runner)
    done = [s.task for s in statuses if s.status == "done"]
    nodes = store.node_results(engine, done)
    reasons = {s.node: f"{s.status}: {s.detail}" for s in statuses if s.status != "done"}
    reasons.update({task.node: f"validate exited {task.exit_code} without storing a report" for task in done
                    if task.invocation_key is None})
    report = judge_fleet(nodes, job.nodes, reasons, settings_for(nodes, slower_pct))
    return Judged(report, job, len(statuses), histories(engine, done, nodes))


def report_since(engine, since: str, slower_pct: float | None = None) -> Judged:
    """The fleet analysis of each node's latest finished task since a date, over every fleet job."""
    tasks = store.tasks_since(engine, since)
    nodes = store.node_results(engine, tasks)
    expected: Sequence[str] = [task.node for task in tasks]
    reasons = {task.node: f"validate exited {task.exit_code} without storing a report" for task in tasks
               if task.invocation_key is None}
    return Judged(judge_fleet(nodes, expected, reasons, settings_for(nodes, slower_pct)), None, len(tasks),
                  histories(engine, tasks, nodes))
