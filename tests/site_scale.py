"""Measure `bench publish` on a large store (issue 25's figures; not a test: timings are never asserted).

    python -m tests.site_scale --db FILE --out SITE [--machines 1000] [--fingerprints 20] [--cases 50]
                               [--invocations 100]

The store is filled in bulk through SQLAlchemy Core with the rows bench/store/rows.py makes (filling 100,000
reports one by one through `bench db import` would take hours on a small VM and is not what is measured): every
node's invocations with a case result per case; the last invocation of each node stores a real report (the
comparisons read it), the others a stub (publish reads their rows, never their JSON). Run results are not filled
(publish does not read them). One node in 97 is 30 % slower than its fleet; on the first five fingerprints torch
2.14 (from invocation 60 on) makes the first ten cases 5 % slower, so there are change points to find.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import random
import time
import zlib
from pathlib import Path

from bench.results.records import CaseRecord
from bench.store import database, rows, schema
from envcheck.files import json_text
from envcheck.fingerprint import hardware_fingerprint
from tests import reports

MODELS = ("mlp", "cnn", "mlp-large", "resnet18")
FIRST = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
STUB = zlib.compress(b"{}")


def case_list(count: int) -> list[dict]:
    return [{"model": MODELS[i % len(MODELS)], "batch_size": 1 + i // len(MODELS)} for i in range(count)]


def node_environment(node: int, fingerprint: int, torch: str):
    facts = reports.ENVIRONMENT.facts
    return dataclasses.replace(reports.ENVIRONMENT, facts=dataclasses.replace(
        facts, cpu=dataclasses.replace(facts.cpu, model=f"Scale CPU {fingerprint}"),
        system=dataclasses.replace(facts.system, hostname=f"node-{node:05d}"),
        torch=dataclasses.replace(facts.torch, version=torch)))


def fill(engine, machines: int, fingerprints: int, count: int, invocations: int) -> int:
    cases = case_list(count)
    keys = [reports.case(**fields).key for fields in cases]
    rng = random.Random(1)
    stored = 0
    with engine.begin() as connection:
        software_ids = {}
        for torch in ("2.11.0", "2.14.1"):
            row = rows.software_row(node_environment(0, 0, torch).facts)
            connection.execute(schema.software.insert(), row)
            software_ids[torch] = connection.execute(schema.software.select().where(
                schema.software.c.software_key == row["software_key"])).first().id
        machine_ids, history = {}, {}
        for fingerprint in range(fingerprints):
            found = hardware_fingerprint(node_environment(0, fingerprint, "2.11.0").facts, "cpu")
            connection.execute(schema.machine.insert(), rows.machine_row(found))
            machine_ids[fingerprint] = connection.execute(schema.machine.select().where(
                schema.machine.c.fingerprint == found.id)).first().id
            history_rows = [rows.history_row(key, found.id, {}) for key in keys]
            connection.execute(schema.history_key.insert(), history_rows)
            history[fingerprint] = [row["history_key"] for row in history_rows]
    for node in range(machines):
        fingerprint = node % fingerprints
        speed = (1.3 if node % 97 == 5 else 1.0) * (1 + rng.gauss(0, 0.02))
        with engine.begin() as connection:
            case_rows = []
            for index in range(invocations):
                torch = "2.14.1" if index >= 60 else "2.11.0"
                started = (FIRST + datetime.timedelta(days=index, minutes=node)).isoformat(timespec="seconds")
                steps = [0.01 * (1 + c / 10) * speed * (1 + rng.gauss(0, 0.01))
                         * (1.05 if torch == "2.14.1" and fingerprint < 5 and c < 10 else 1.0) for c in range(count)]
                blob = STUB
                if index == invocations - 1:
                    records = [CaseRecord.from_runs(reports.case(**fields), [reports.run(step, i) for i in range(3)])
                               for fields, step in zip(cases, steps, strict=True)]
                    report = reports.report(records, environment=node_environment(node, fingerprint, torch),
                                            started=started)
                    blob = zlib.compress(json_text(report.to_json()).encode(), 1)
                key = rows.digest("scale", node, index)
                row = {"invocation_key": key, "kind": "run", "state": rows.DONE, "start_key": key, "updated": started,
                       "machine_id": machine_ids[fingerprint], "software_id": software_ids[torch],
                       "hostname": f"node-{node:05d}", "started": started, "created": started, "wall_s": 60.0,
                       "suite": "quick", "device": "cpu", "label": None, "setup_label": "", "argv": ["bench", "run"],
                       "setup": {}, "rules": {}, "ceilings": {}, "runs_planned": 3, "cases_planned": count,
                       "cases_finished": count, "interrupted": False, "git_commit": None, "git_dirty": None,
                       "report": blob}
                invocation_id = connection.execute(schema.invocation.insert().returning(schema.invocation.c.id),
                                                   row).scalar_one()
                case_rows += [{"invocation_id": invocation_id, "history_key": history[fingerprint][c],
                               "case_key": keys[c], "status": "ok", "reason": None, "step_s": step,
                               "items_per_s": 64 / step, "unit": "samples", "run_spread_cv": 0.01, "noisy": False,
                               "runs": 3} for c, step in enumerate(steps)]
            connection.execute(schema.case_result.insert(), case_rows)
            stored += len(case_rows)
    return stored


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children: a pause of the machine (another job's timing
    window) shows in the wall time, not here."""
    import resource

    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--fingerprints", type=int, default=20)
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--invocations", type=int, default=100)
    parser.add_argument("--no-fill", action="store_true", help="publish the store as it is")
    args = parser.parse_args()
    from bench.render.site.publish import publish

    engine = database.open_engine(database.resolve_url(args.db))
    if not args.no_fill:
        began = time.perf_counter()
        results = fill(engine, args.machines, args.fingerprints, args.cases, args.invocations)
        print(f"filled {args.machines} nodes x {args.invocations} invocations x {args.cases} cases "
              f"({results} case results) in {time.perf_counter() - began:.0f} s")
    for attempt in ("first", "again (unchanged)"):
        began, cpu = time.perf_counter(), cpu_seconds()
        summary = publish(engine, args.out, database=args.db)
        seconds = time.perf_counter() - began
        print(f"publish {attempt}: {seconds:.1f} s wall, {cpu_seconds() - cpu:.1f} s CPU; "
              f"{len(summary.written)} file(s) written, "
              f"{len(summary.unchanged)} unchanged; overview {(args.out / 'index.html').stat().st_size / 1e6:.2f} MB, "
              f"site {size(args.out) / 1e6:.0f} MB")
    engine.dispose()


if __name__ == "__main__":
    main()
