"""A micro figure against its fleet and its host's history, read from a real SQLite results database."""

from __future__ import annotations

import dataclasses

import pytest

from bench.store import writer
from bench.store.yardsticks import yardsticks
from tests.reports import ENVIRONMENT, report
from tests.unit.test_micro import micro_record


def on_host(host: str, gbps: float, started: str):
    """A CPU report from ``host`` whose 64 MiB copy ran at ``gbps`` (same hardware fingerprint everywhere)."""
    facts = dataclasses.replace(ENVIRONMENT.facts, system=dataclasses.replace(ENVIRONMENT.facts.system,
                                                                              hostname=host))
    moved = 2 * 64 * 2**20
    record = micro_record("mem-copy", 64, moved, moved / (gbps * 1e9), device="cpu")
    return report([record], environment=dataclasses.replace(ENVIRONMENT, facts=facts), started=started)


def test_fleet_median_takes_each_hosts_latest_and_history_this_hosts_past(engine):
    for host, gbps, started in (("n1", 10.0, "2026-11-30T10:00:00+00:00"), ("n2", 99.0, "2026-11-30T10:10:00+00:00"),
                                ("n2", 12.0, "2026-11-30T11:00:00+00:00"), ("n3", 14.0, "2026-11-30T10:20:00+00:00"),
                                ("me", 8.0, "2026-11-29T10:00:00+00:00")):
        writer.store_report(engine, on_host(host, gbps, started))
    new = on_host("me", 9.0, "2026-12-01T10:00:00+00:00")
    writer.store_report(engine, new)  # stored already: left out of its own yardstick
    (stick,) = yardsticks(engine, new)
    assert stick.fleet_hosts == 3 and stick.fleet_median == pytest.approx(12e9)  # n1 10, n2's latest 12, n3 14
    assert stick.of_fleet == pytest.approx(9 / 12)
    assert stick.history_points == 1 and stick.of_history == pytest.approx(9 / 8)


def test_no_fleet_below_two_other_hosts(engine):
    writer.store_report(engine, on_host("n1", 10.0, "2026-11-30T10:00:00+00:00"))
    (stick,) = yardsticks(engine, on_host("me", 9.0, "2026-12-01T10:00:00+00:00"))
    assert stick.fleet_hosts == 1 and stick.fleet_median is None and stick.of_fleet is None
    assert stick.history_median is None
