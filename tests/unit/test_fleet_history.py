"""A fleet report sets each node beside its own earlier validations (bench.store.fleet.node_history, through a real
SQLite store; bench.analysis.fleet.node_histories; the report's "own history" column)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import update

from bench.analysis.fleet import NodeRuns, NodeVerdict, judge_fleet, node_histories
from bench.render.fleet import report_lines
from bench.store import fleet as store
from bench.store import schema, writer
from bench.store.imports import store_envcheck
from envcheck.checks import CheckOptions
from envcheck.records import passed
from envcheck.report import EnvReport
from tests.reports import ENVIRONMENT, record, report


def validation(engine, fleet_key: str, node: str, step: float, started: str, hostname: str = "shared-host") -> str:
    """A validate of node nI (one case, three runs at ``step`` s) stored as task I-1 of fleet ``fleet_key``."""
    facts = dataclasses.replace(ENVIRONMENT.facts, system=dataclasses.replace(ENVIRONMENT.facts.system,
                                                                              hostname=hostname))
    written = writer.store_report(engine, report([record([step, step, step], model="mlp")], started=started,
                                                 environment=dataclasses.replace(ENVIRONMENT, facts=facts)))
    index = int(node.removeprefix("n")) - 1
    store.register_task(engine, fleet_key, index, node, 0, "slurm")
    store.task_finished(engine, fleet_key, index, 0, "healthy", written.invocation_key)
    return written.invocation_key


def test_each_node_is_set_beside_its_own_last_validations_and_not_its_neighbours(engine):
    # three earlier weekly fleet jobs, then this one: n1 became 30 % slower, n2 stayed as it was (all four nodes of
    # a local cluster share one hostname: the history follows the fleet's node name, not the host's)
    for week, (n1, n2) in enumerate([(0.010, 0.020), (0.011, 0.020), (0.010, 0.021)]):
        validation(engine, f"week{week}", "n1", n1, f"2026-11-0{week + 1}T10:00:00+00:00")
        validation(engine, f"week{week}", "n2", n2, f"2026-11-0{week + 1}T10:05:00+00:00")
    validation(engine, "now", "n1", 0.013, "2026-11-20T10:00:00+00:00")
    validation(engine, "now", "n2", 0.020, "2026-11-20T10:05:00+00:00")
    validation(engine, "later", "n1", 0.5, "2026-11-27T10:00:00+00:00")  # after this job: never its history
    tasks = [t for t in store.tasks_of(engine, "now")]
    history = store.node_history(engine, tasks, count=2)
    case = next(iter(history["n1"]))
    assert history["n1"][case] == [0.011, 0.010] and history["n2"][case] == [0.020, 0.021]  # the last two, oldest first
    nodes = store.node_results(engine, tasks)
    mine = node_histories(nodes, history)
    assert mine["n1"].ratio == pytest.approx(0.013 / 0.0105) and mine["n1"].validations == 2
    assert mine["n2"].ratio == pytest.approx(0.020 / 0.0205) and mine["n2"].worst_case == case
    assert store.node_history(engine, tasks, count=0) == {}


def test_the_report_says_whether_a_degraded_node_changed_or_always_was_slow():
    rows = [NodeRuns(f"n{i}", "F", (("device", "cpu"),), {"mlp": (0.0100, 0.0100, 0.0101)}) for i in range(1, 9)]
    rows += [NodeRuns("slow-new", "F", (("device", "cpu"),), {"mlp": (0.020, 0.020, 0.020)}),
             NodeRuns("slow-old", "F", (("device", "cpu"),), {"mlp": (0.020, 0.020, 0.020)})]
    report = judge_fleet(rows)
    assert {n.node for n in report.nodes if n.verdict is NodeVerdict.DEGRADED} == {"slow-new", "slow-old"}
    history = node_histories(rows, {"slow-new": {"mlp": [0.010, 0.010]}, "slow-old": {"mlp": [0.020, 0.0199]},
                                    "n1": {"mlp": [0.0100]}})
    lines = report_lines(report, "fleet", history)
    new = next(line for line in lines if "slow-new" in line and "degraded" in line)
    old = next(line for line in lines if "slow-old" in line and "degraded" in line)
    assert "x2.000 (2)" in new and "something changed on this node" in new
    assert "about as fast as in its own last 2 validation(s)" in old
    assert next(line for line in lines if line.split()[1:2] == ["n2"]).count(" - ") >= 1  # no history: '-'


def test_the_site_names_a_fleet_tasks_invocation_by_its_fleet_node_not_its_shared_host(engine, tmp_path):
    from bench.render.site.publish import publish

    for node, step in (("n1", 0.010), ("n2", 0.011), ("n3", 0.020)):
        validation(engine, "week0", node, step, f"2026-11-01T10:0{node[1]}:00+00:00")
    # validate's envcheck is stored apart from its invocation, with the host's name: the task running on that
    # host at its time owns it (n2's task here), and one outside every task stays the host's
    task = schema.fleet_task
    with engine.begin() as connection:
        for node, began, ended in (("n1", "10:00", "10:05"), ("n2", "10:10", "10:15"), ("n3", "10:20", "10:25")):
            connection.execute(update(task).where(task.c.node == node).values(
                started=f"2026-11-01T{began}:00+00:00", finished=f"2026-11-01T{ended}:00+00:00"))
    facts = dataclasses.replace(ENVIRONMENT.facts, system=dataclasses.replace(ENVIRONMENT.facts.system,
                                                                              hostname="shared-host"))
    for created in ("2026-11-01T10:12:00+00:00", "2026-11-01T11:00:00+00:00"):
        store_envcheck(engine, EnvReport(facts, (passed("torch import", "2.14.1"),), CheckOptions(), created))
    summary = publish(engine, tmp_path / "site", database="test")
    assert summary.nodes == 4  # one host: three fleet nodes, and the host itself for the envcheck of no task
    n2 = next((tmp_path / "site" / "nodes").glob("n2-*.html")).read_text()
    assert "2026-11-01 10:12" in n2 and "2026-11-01 11:00" not in n2
    pages = sorted(path.name for path in (tmp_path / "site" / "nodes").glob("*.html"))
    assert [name.split("-")[0] for name in pages] == ["n1", "n2", "n3", "shared"]
