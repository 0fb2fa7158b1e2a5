"""Measure the results database (issue 22's figures; not a test: timings are never asserted).

    python -m tests.store_ingest --db URL [--machines 1000] [--cases 200] [--history 10000]
    python -m tests.store_ingest --postgres [...]   # a throw-away durable PostgreSQL server (tests/postgres_server)

Ingest: ``machines`` synthetic reports, each from its own hardware fingerprint with ``cases`` case results of one
run each, written one report per transaction (bench.store.writer.store_report, given the report's JSON text as
`bench db import` is). History: ``history`` invocations of one machine, then the time to read one case's series.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import statistics
import time

from bench.results.records import CaseRecord
from bench.store import database, history, writer
from envcheck.files import json_text
from tests import reports

MODELS = ("mlp", "cnn", "mlp-large", "resnet18")
FIRST = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


def cases(count: int, step_s: float, seed: int) -> list[CaseRecord]:
    found = []
    for index in range(count):
        model, batch = MODELS[index % len(MODELS)], 1 + index // len(MODELS)
        found.append(CaseRecord.from_runs(reports.case(model=model, batch_size=batch),
                                          [reports.run(step_s * (1 + index / 1000), jitter=0.02, seed=seed)]))
    return found


def machine_report(machine: int, count: int, started: str):
    facts = reports.ENVIRONMENT.facts
    cpu = dataclasses.replace(facts.cpu, model=f"Synthetic CPU {machine}")
    system = dataclasses.replace(facts.system, hostname=f"node-{machine:05d}")
    environment = dataclasses.replace(reports.ENVIRONMENT, facts=dataclasses.replace(facts, cpu=cpu, system=system))
    return reports.report(cases(count, 0.01, machine), environment=environment, started=started)


def ingest(engine, machines: int, count: int) -> tuple[float, int]:
    """Seconds spent writing (building each report and its JSON text is not counted), case rows written."""
    seconds, rows = 0.0, 0
    for machine in range(machines):
        report = machine_report(machine, count, f"2026-11-{1 + machine % 28:02d}T{machine % 24:02d}:00:00+00:00")
        text = json_text(report.to_json())
        began = time.perf_counter()
        rows += writer.store_report(engine, report, text=text).cases
        seconds += time.perf_counter() - began
    return seconds, rows


def history_fetch(engine, invocations: int, repeats: int = 5) -> tuple[list[float], int]:
    base = machine_report(99999, 5, FIRST.isoformat())
    for index in range(invocations):
        started = (FIRST + datetime.timedelta(hours=index)).isoformat()
        report = dataclasses.replace(base, invocation=dataclasses.replace(base.invocation, started=started),
                                     created=started)
        writer.store_report(engine, report, text="{}")
    key = base.cases[0].key
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        found = history.series(engine, history.Query(case_key=key, fingerprint=base.fingerprint.id))
        times.append(time.perf_counter() - began)
    return times, len(found[0].points)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--history", type=int, default=10000)
    args = parser.parse_args()
    server = None
    if args.postgres:
        from tests import postgres_server

        server = postgres_server.start(postgres_server.binaries(), durable=True)
        args.db = server.url
    try:
        url = database.resolve_url(args.db)
        engine = database.open_engine(url)
        seconds, rows = ingest(engine, args.machines, args.cases)
        print(f"{url.get_backend_name()}: ingest {args.machines} reports x {args.cases} case results "
              f"({rows} case rows, {rows} run rows): {seconds:.1f} s")
        times, points = history_fetch(engine, args.history)
        print(f"{url.get_backend_name()}: history of one case over {points} invocations: "
              f"median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
              f"max {max(times) * 1000:.0f}, {len(times)} fetches)")
        engine.dispose()
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
