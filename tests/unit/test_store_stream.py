"""Streaming an invocation into the results database (bench/store/stream.py) on SQLite: its row from its start,
each run in its own transaction as it finishes, the report completing it; retries, --resume and a later import
are no-ops on what is there; a database down at the start or failing mid-run leaves the reports on disk with the
command that uploads them, and that upload completes the partial rows."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select, text

from bench.results.journal import Entry
from bench.results.report import Report
from bench.store import database, history, imports, rows, schema
from bench.store.recorder import Verdict
from bench.store.stream import StreamRecorder
from tests import reports

ID = "0123456789abcdef"


def streamed(runs: int = 3, *, interrupted: bool = False, created: str = "2026-11-30T10:05:00+00:00",
             cases: int = 2) -> Report:
    """A report of invocation ID: ``cases`` cases of ``runs`` runs each (their first ``runs`` runs)."""
    records = [reports.record([0.01 * (1 + i / 100) for i in range(runs)], batch_size=64 * (1 + c))
               for c in range(cases)]
    made = reports.report(records, started="2026-11-30T10:00:00+00:00")
    info = dataclasses.replace(made.invocation, id=ID, interrupted=interrupted)
    return dataclasses.replace(made, invocation=info, created=created)


def empty(report: Report) -> Report:
    """What execute tells the listener at the start: the report without a case, made then."""
    return dataclasses.replace(report, cases=[], created="2026-11-30T10:00:01+00:00")


def entries(report: Report) -> list[Entry]:
    """The report's runs as its journal holds them, in round-robin order."""
    found = [Entry("", record.key, run) for record in report.cases for run in record.runs]
    return sorted(found, key=lambda entry: entry.record.index)


def state(engine) -> list[tuple]:
    inv = schema.invocation
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            select(inv.c.state, inv.c.invocation_key, inv.c.kind).order_by(inv.c.id))]


def run_keys(engine) -> list[tuple[str, int]]:
    rr = schema.run_result
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(select(rr.c.case_key, rr.c.run_index)))


def count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_an_invocation_is_running_from_its_start_gets_each_run_as_it_finishes_and_is_done_at_its_end(
        tmp_path, url, engine):
    final = streamed()
    recorder = StreamRecorder(url, "validate")
    recorder.begun([empty(final)], [])
    assert state(engine) == [("running", rows.start_key(final), "validate")]
    assert count(engine, schema.run_result) == 0
    journal = entries(final)
    for number, entry in enumerate(journal, 1):
        recorder.run_finished(entry)
        assert len(run_keys(engine)) == number  # committed run by run: another connection sees it
        assert count(engine, schema.case_result) == 0 and state(engine)[0][0] == "running"
    recorder.run_finished(journal[0])  # a retried write of a run: a no-op
    assert len(run_keys(engine)) == len(journal) == 6
    path = final.dump(tmp_path / "final.json")
    recorder.reports_written([(final, path)])
    verdict = Verdict("healthy", 0, "validate: healthy", 10.0, "results/baselines/x")
    lines = recorder.complete(verdict)
    assert lines == [f"recorded 1 report(s) in {url}, 6 run(s) as they finished"]
    assert state(engine) == [("done", rows.invocation_key(final), "validate")]
    with engine.connect() as connection:
        cases = connection.execute(select(schema.case_result.c.case_key, schema.case_result.c.step_s,
                                          schema.case_result.c.runs).order_by(schema.case_result.c.case_key)).all()
        assert connection.execute(select(schema.validate_verdict.c.verdict)).scalar_one() == "healthy"
        blob = connection.execute(select(schema.invocation.c.report)).scalar_one()
    assert [tuple(c) for c in cases] == sorted((r.key, pytest.approx(r.step_s), 3) for r in final.cases)
    import zlib

    assert zlib.decompress(blob).decode() == path.read_text()  # the export's source is the file
    assert imports.import_file(engine, path).stored is False  # importing its report later: already there
    assert len(run_keys(engine)) == 6 and count(engine, schema.invocation) == 1
    (one, _) = history.series(engine, history.Query(fingerprint=final.fingerprint.id))
    assert [p.invocation_key for p in one.points] == [rows.invocation_key(final)]


def test_an_interrupted_invocation_stays_partial_and_its_resume_completes_it_without_a_second_row(tmp_path, url,
                                                                                                 engine):
    final = streamed(3)
    journal = entries(final)
    first_part = streamed(2, interrupted=True, created="2026-11-30T10:03:00+00:00")
    recorder = StreamRecorder(url)
    recorder.begun([empty(final)], [])
    for entry in journal[:4]:  # runs 0 and 1 of both cases, then a signal
        recorder.run_finished(entry)
    partial_path = first_part.dump(tmp_path / "partial.json")
    recorder.reports_written([(first_part, partial_path)])
    recorder.complete()
    assert state(engine) == [("interrupted", rows.invocation_key(first_part), "run")]
    assert count(engine, schema.case_result) == 2 and len(run_keys(engine)) == 4  # visible with its runs

    resumed = StreamRecorder(url)
    resumed.begun([empty(final)], journal[:4])  # --resume streams the journal's runs again: no-ops
    assert state(engine)[0][0] == "running" and len(run_keys(engine)) == 4
    for entry in journal[4:]:
        resumed.run_finished(entry)
    path = final.dump(tmp_path / "final.json")
    resumed.reports_written([(final, path)])
    assert resumed.complete() == [f"recorded 1 report(s) in {url}, 2 run(s) as they finished"]
    assert state(engine) == [("done", rows.invocation_key(final), "run")]
    assert run_keys(engine) == sorted((r.key, i) for r in final.cases for i in range(3))
    with engine.connect() as connection:
        assert connection.execute(select(schema.case_result.c.runs)).scalars().all() == [3, 3]
    # the interrupted report imported afterwards is older than what the row holds: nothing changes
    assert imports.import_file(engine, partial_path).stored is False
    assert state(engine) == [("done", rows.invocation_key(final), "run")] and len(run_keys(engine)) == 6


def test_a_database_down_at_the_start_leaves_the_report_and_says_how_to_upload_it(tmp_path):
    final = streamed()
    path = final.dump(tmp_path / "r.json")
    before = path.read_text()
    url = database.resolve_url("postgresql://bench:hunter2@127.0.0.1:1/results", {})
    recorder = StreamRecorder(url)
    recorder.begun([empty(final)], [])
    for entry in entries(final):
        recorder.run_finished(entry)  # nothing tried: the first failure stopped the streaming
    recorder.reports_written([(final, path)])
    (line,) = recorder.complete()
    assert "hunter2" not in line and line.startswith("results database postgresql+psycopg://bench:***@127.0.0.1:1")
    assert "not recorded (OperationalError" in line
    assert line.endswith(f"upload it later with `python -m bench db import {path} --db "
                         "postgresql+psycopg://bench:***@127.0.0.1:1/results`")
    assert path.read_text() == before


def test_a_database_failing_mid_run_is_completed_by_the_import_it_suggests_without_duplicates(tmp_path, url,
                                                                                             engine):
    final = streamed()
    journal = entries(final)
    recorder = StreamRecorder(url)
    recorder.begun([empty(final)], [])
    for entry in journal[:2]:
        recorder.run_finished(entry)
    with engine.begin() as connection:  # the database breaks under the run (a real failure, not a mock)
        connection.execute(text("ALTER TABLE run_result RENAME TO run_result_away"))
    for entry in journal[2:]:
        recorder.run_finished(entry)
    path = final.dump(tmp_path / "r.json")
    recorder.reports_written([(final, path)])
    (line,) = recorder.complete()  # the one more try at the end fails too
    assert "not recorded (OperationalError: no such table: run_result)" in line
    assert line.endswith(f"upload it later with `python -m bench db import {path} --db {url}`")
    with engine.begin() as connection:  # the database is back
        connection.execute(text("ALTER TABLE run_result_away RENAME TO run_result"))
    assert state(engine) == [("running", rows.start_key(final), "run")] and len(run_keys(engine)) == 2
    summary = imports.import_paths(engine, [path])
    assert summary.stored == [path]
    assert state(engine) == [("done", rows.invocation_key(final), "run")]
    assert run_keys(engine) == sorted((r.key, i) for r in final.cases for i in range(3))
    assert count(engine, schema.case_result) == 2
    assert imports.import_paths(engine, [path]).already == [path]


def test_a_failure_inside_the_completion_writes_nothing_of_it(tmp_path, url, engine):
    final = streamed()
    path = final.dump(tmp_path / "r.json")
    broken = dataclasses.replace(final, cases=[final.cases[0], final.cases[0]])  # its second case row clashes
    recorder = StreamRecorder(url)
    recorder.begun([empty(final)], [])
    recorder.reports_written([(broken, path)])
    (line,) = recorder.complete()
    assert "IntegrityError" in line and "upload it later" in line
    assert state(engine)[0][0] == "running" and count(engine, schema.case_result) == 0
    assert count(engine, schema.run_result) == 0


def test_reports_the_disk_refused_leave_the_invocation_interrupted_with_its_runs(url, engine):
    final = streamed()
    recorder = StreamRecorder(url)
    recorder.begun([empty(final)], [])
    for entry in entries(final)[:3]:
        recorder.run_finished(entry)
    recorder.reports_written(None)
    assert recorder.complete() == [f"results database {url}: the invocation is marked interrupted with its 3 "
                                   "finished run(s); its journal holds them for --resume"]
    assert state(engine)[0][0] == "interrupted" and len(run_keys(engine)) == 3


def test_an_older_database_gets_the_state_columns_and_its_rows_are_done_or_interrupted(tmp_path, url):
    from alembic import command

    old = database.make_engine(url)
    with old.begin() as connection:
        command.upgrade(database.alembic_config(connection), "0002")
    done, cut = reports.report([reports.record([0.01])]), reports.report([reports.record([0.01])],
                                                                         started="2026-11-29T00:00:00+00:00")
    cut = dataclasses.replace(cut, invocation=dataclasses.replace(cut.invocation, interrupted=True))
    with old.begin() as connection:  # rows as the torchrig of revision 0002 wrote them
        for report in (done, cut):
            connection.execute(schema.machine.insert().prefix_with("OR IGNORE"), rows.machine_row(report.fingerprint))
            row = rows.invocation_row(report, "run", 1, 1, b"x")
            for column in ("state", "start_key", "updated"):
                del row[column]
            connection.execute(text("INSERT INTO software (id, software_key, packages) VALUES (:i, :k, '{}') "
                                    "ON CONFLICT DO NOTHING"), {"i": 1, "k": "s"})
            connection.execute(schema.invocation.insert().values(**row))
    old.dispose()
    engine = database.open_engine(url)  # migrated at connect (SQLite)
    inv = schema.invocation
    with engine.connect() as connection:
        found = connection.execute(select(inv.c.state, inv.c.start_key, inv.c.updated, inv.c.created)
                                   .order_by(inv.c.started)).all()
    engine.dispose()
    assert [(r.state, r.start_key, r.updated) for r in found] == [
        ("interrupted", rows.start_key(cut), found[0].created), ("done", rows.start_key(done), found[1].created)]
