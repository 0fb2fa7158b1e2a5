"""The fleet analysis (bench/analysis/fleet.py) on simulated fleets with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis.fleet import (
    FleetSettings,
    NodeRuns,
    NodeVerdict,
    drain_command,
    fleet_centres,
    judge_fleet,
    leave_one_out_medians,
    ratios_to_fleet,
)

FIELDS = (("device", "cuda"), ("gpu", "NVIDIA H200 x8"), ("driver major", "550"), ("cores", "96"))


def fleet(rng, nodes=1000, cases=5, runs=5, cv=0.01, between=0.005, slow=None, fields=FIELDS):
    """``nodes`` nodes whose runs vary by ``cv`` (log sd) around a node level that varies by ``between``;
    ``slow``: node index -> fraction slower."""
    slow = slow or {}
    out = []
    for i in range(nodes):
        level = rng.normal(0, between) + np.log1p(slow.get(i, 0.0))
        steps = {f"case{j}": tuple(np.exp(np.log(0.01 * (j + 1)) + level + rng.normal(0, cv, runs)))
                 for j in range(cases)}
        out.append(NodeRuns(f"node{i:04d}", "h200-x8", fields, steps))
    return out


def test_leave_one_out_medians_match_brute_force():
    rng = np.random.default_rng(0)
    for size in (2, 3, 4, 7, 10):
        values = rng.normal(size=size)
        values[rng.integers(size)] = np.nan if size > 3 else values[0]
        got = leave_one_out_medians(values)
        for i, value in enumerate(values):
            others = np.delete(values, i)
            others = others[~np.isnan(others)]
            expected = np.nan if np.isnan(value) or others.size == 0 else np.median(others)
            assert got[i] == pytest.approx(expected, nan_ok=True)


def test_the_centre_is_the_median_of_the_others_or_of_all_when_the_others_are_even_in_number():
    values = np.array([1.0, 1.0, 0.8])  # two others each: the fleet's middle value, not halfway to the slow node
    assert list(fleet_centres(values)) == [1.0, 1.0, 1.0]
    values = np.array([1.0, 1.0, 1.0, 0.8, np.nan])  # three others each: leave-one-out
    assert list(fleet_centres(values)[:4]) == list(leave_one_out_medians(values)[:4]) == [1.0, 1.0, 1.0, 1.0]
    assert np.isnan(fleet_centres(values)[4]) and np.isnan(fleet_centres(np.array([2.0, np.nan]))).all()


def test_in_a_fleet_of_three_only_the_slow_node_is_off_the_fleet():
    rows = [NodeRuns(name, "F", (), {"mlp": (step,) * 3}) for name, step in (("a", 0.010), ("b", 0.010), ("s", 0.0125))]
    ratios = {cell.node: cell.ratio for cell in ratios_to_fleet(rows)}
    assert ratios["a"] == pytest.approx(1.0) and ratios["b"] == pytest.approx(1.0)
    assert ratios["s"] == pytest.approx(1.25)


def test_a_slow_node_is_named_first_and_healthy_nodes_are_healthy():
    rng = np.random.default_rng(1)
    nodes = fleet(rng, nodes=40, slow={7: 0.10})
    report = judge_fleet(nodes, settings=FleetSettings(slower_pct=2.0))
    first = report.nodes[0]
    assert (first.node, first.verdict) == ("node0007", NodeVerdict.DEGRADED)
    assert first.ratio == pytest.approx(1.10, abs=0.01)
    assert report.count(NodeVerdict.DEGRADED) == 1
    # CV 1 % over 5 runs rules out 2 % on most nodes; a node whose own level sits ~1 % high in one of its 5 cases
    # stays inconclusive (its bound reaches past 2 %), never degraded
    assert report.count(NodeVerdict.HEALTHY) >= 28
    assert report.count(NodeVerdict.HEALTHY) + report.count(NodeVerdict.INCONCLUSIVE) == 39
    assert [node.node for node in report.to_drain()] == ["node0007"]
    command = drain_command(first.node, first.drain_reason())
    assert command[:4] == ["scontrol", "update", "nodename=node0007", "state=drain"]
    assert command[4].startswith("reason=torchrig degraded: ")


def test_ratios_per_node_and_case_for_a_heat_map():
    rng = np.random.default_rng(2)
    nodes = fleet(rng, nodes=20, cases=3, slow={3: 0.5})
    cells = ratios_to_fleet(nodes)
    assert len(cells) == 60
    slow = {cell.case: cell for cell in cells if cell.node == "node0003"}
    assert set(slow) == {"case0", "case1", "case2"}
    assert all(cell.ratio == pytest.approx(1.5, rel=0.02) and cell.verdict is NodeVerdict.DEGRADED
               for cell in slow.values())
    assert all(cell.low <= cell.ratio <= cell.high and cell.peers == 19 for cell in slow.values())


def test_broken_missing_and_a_node_whose_fingerprint_differs():
    rng = np.random.default_rng(3)
    nodes = fleet(rng, nodes=12, cases=2)
    odd_fields = (("device", "cuda"), ("gpu", "NVIDIA H200 x7"), ("driver major", "535"), ("cores", "96"))
    nodes[4] = NodeRuns("node0004", "h200-x7", odd_fields, nodes[4].step_s)
    nodes[5] = NodeRuns("node0005", nodes[5].fingerprint, nodes[5].fields, {}, ("envcheck FAIL: cuda",))
    report = judge_fleet(nodes, [n.node for n in nodes] + ["node0099"], {"node0099": "Slurm: TIMEOUT"})
    verdicts = {node.node: node for node in report.nodes}
    assert verdicts["node0005"].verdict is NodeVerdict.BROKEN and report.nodes[0].node == "node0005"
    assert verdicts["node0099"].verdict is NodeVerdict.MISSING
    assert "Slurm: TIMEOUT" in verdicts["node0099"].reasons[0]
    odd = verdicts["node0004"]
    assert odd.verdict is NodeVerdict.INCONCLUSIVE and odd.drain
    assert dict((key, (mine, theirs)) for key, mine, theirs in odd.fingerprint_differs) == {
        "gpu": ("NVIDIA H200 x7", "NVIDIA H200 x8"), "driver major": ("535", "550")}
    assert report.fleet_fingerprint == "h200-x8"
    assert {n.node for n in report.to_drain()} == {"node0004", "node0005"}


def test_a_node_reported_twice_is_refused():
    rng = np.random.default_rng(4)
    nodes = fleet(rng, nodes=3, cases=1)
    with pytest.raises(ValueError, match="more than once"):
        judge_fleet([*nodes, nodes[0]])


def test_settings_are_checked():
    with pytest.raises(ValueError, match="slower_pct"):
        FleetSettings(slower_pct=-1)
    with pytest.raises(ValueError, match="min_peers"):
        FleetSettings(min_peers=2)


@pytest.mark.slow
def test_one_node_5_percent_slower_among_1000_at_cv_1_percent():
    """Found in >= 95 % of trials, <= 1 % of healthy nodes flagged (the issue's acceptance figures)."""
    rng = np.random.default_rng(5)
    trials, found, flagged = 40, 0, 0
    for _ in range(trials):
        target = int(rng.integers(1000))
        report = judge_fleet(fleet(rng, slow={target: 0.05}), settings=FleetSettings(slower_pct=2.0))
        degraded = {node.node for node in report.nodes if node.verdict is NodeVerdict.DEGRADED}
        found += f"node{target:04d}" in degraded
        flagged += len(degraded - {f"node{target:04d}"})
    assert found / trials >= 0.95
    assert flagged / (trials * 999) <= 0.01


@pytest.mark.slow
def test_at_cv_15_percent_the_report_says_what_it_can_tell():
    """On a 2-core VM (runs vary ~15 %), 1000 nodes, 3 runs of one case: the smallest detectable slowdown is
    reported; a node slower by well beyond it is found, one 5 % slower is not called degraded."""
    rng = np.random.default_rng(6)
    settings = FleetSettings(slower_pct=10.0)
    report = judge_fleet(fleet(rng, cases=1, runs=3, cv=0.15, between=0.0, slow={1: 0.05, 2: 1.0}),
                         settings=settings)
    tells = report.mde_pct["h200-x8"]
    assert 40 < tells < 80  # 10 % + (t + z) x 15 %/sqrt(3)... spread of node means ~8.7 %
    verdicts = {node.node: node.verdict for node in report.nodes}
    assert verdicts["node0002"] is NodeVerdict.DEGRADED  # 2x: beyond what it can tell
    assert verdicts["node0001"] is not NodeVerdict.DEGRADED
    assert report.count(NodeVerdict.DEGRADED) <= 1 + 10  # <= 1 % of the healthy ones
    # 15 % noise rules out "10 % slower" only for nodes that measured faster than the fleet; most stay undecided
    assert all(node.ratio < 1.0 for node in report.nodes if node.verdict is NodeVerdict.HEALTHY)
    assert report.count(NodeVerdict.INCONCLUSIVE) > 500


def test_an_undecided_node_names_its_slowest_cases_and_what_their_spread_can_tell():
    # four nodes, noisy runs: s is twice as slow on "train" and that is still not enough for a fleet of four at
    # alpha 0.01 (two degrees of freedom); the reason must say so for that case, not quote its best case's spread
    rng = np.random.default_rng(3)
    rows = [NodeRuns(name, "F", (), {"train": tuple(np.exp(np.log(0.01 * scale) + rng.normal(0, 0.15, 3))),
                                     "copy": tuple(np.exp(np.log(0.02) + rng.normal(0, 0.01, 3)))})
            for name, scale in (("a", 1.0), ("b", 1.2), ("c", 0.9), ("s", 2.0))]
    (slow,) = [node for node in judge_fleet(rows, settings=FleetSettings(slower_pct=10.0)).nodes if node.node == "s"]
    assert slow.verdict is NodeVerdict.INCONCLUSIVE
    (why,) = [reason for reason in slow.reasons if "neither shown slower" in reason]
    assert why.split(": ", 1)[1].startswith("train x") and "its spread tells" in why, why
