"""The results database on a real PostgreSQL server (tests/postgres_server.py starts one from the distribution's
package for the session): the schema at connect, concurrent writers, a writer killed inside its transaction.

Locally: `apt-get install postgresql` (Debian), then `pytest -m postgres`; without the server binaries these
tests are skipped with that reason. CI (.ci/run) installs the package, so they run there."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest
from sqlalchemy import func, select, text

from bench.results.records import CaseRecord
from bench.store import database, rows, schema, writer
from tests import postgres_server, reports

pytestmark = pytest.mark.postgres
WRITERS, PER_WRITER = 16, 50


@pytest.fixture(scope="session")
def server():
    binaries = postgres_server.binaries()
    if binaries is None:
        reason = "PostgreSQL's server binaries are not installed (Debian: apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run these tests (.ci/run installs the package)")
        pytest.skip(reason)
    running = postgres_server.start(binaries)
    yield running
    running.stop()


@pytest.fixture
def url(server, request):
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:50]
    return database.resolve_url(server.create_database(name))


def numbered_report(number: int):
    """A small report whose invocation is unique to ``number`` (its start), two cases of two runs."""
    started = f"2026-11-{1 + number // 1440 % 28:02d}T{number // 60 % 24:02d}:{number % 60:02d}:00+00:00"
    records = [CaseRecord.from_runs(reports.case(batch_size=size), [reports.run(0.01, i, seed=number) for i in (0, 1)])
               for size in (64, 256)]
    return reports.report(records, started=started)


def count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def write_share(url_text: str, writer_index: int) -> None:
    """A writer process: its 50 invocations, half of them also written by the next writer (a retry race)."""
    engine = database.open_engine(database.resolve_url(url_text))
    for offset in range(PER_WRITER):
        number = writer_index * PER_WRITER // 2 + offset
        writer.store_report(engine, numbered_report(number), text="{}")
    engine.dispose()


def test_schema_is_created_and_an_older_one_refused_until_db_upgrade(url):
    from alembic import command

    old = database.make_engine(url)
    with old.begin() as connection:
        command.upgrade(database.alembic_config(connection), "0001")
    head = database.head_revision()
    with pytest.raises(database.StoreError, match=rf"older than {head}: migrate it with `python -m bench db upgrade"):
        database.open_engine(url)
    with old.begin() as connection:  # a row of revision 0001 gets its state and start key from 0003
        connection.execute(schema.machine.insert(), {"fingerprint": "fp", "device": "cpu", "device_name": "n",
                                                     "fields": []})
        connection.execute(schema.software.insert(), {"software_key": "s", "packages": {}})
        row = rows.invocation_row(numbered_report(2), "run", 1, 1, b"x")
        for column in ("state", "start_key", "updated"):
            del row[column]
        connection.execute(schema.invocation.insert().values(**row))
    state = database.upgrade(old)
    assert (state.current, state.head) == ("0001", head) and head == "0004"
    with old.connect() as connection:
        migrated = connection.execute(select(schema.invocation.c.state, schema.invocation.c.start_key)).one()
    assert tuple(migrated) == ("done", rows.start_key(numbered_report(2)))
    engine = database.open_engine(url)
    assert writer.store_report(engine, numbered_report(1)).stored
    engine.dispose()
    old.dispose()


def test_16_concurrent_writers_store_every_row_once(url):
    engine = database.open_engine(url)  # the schema first, as `bench db upgrade` would
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=write_share, args=(url.render_as_string(hide_password=False), index))
                 for index in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [process.exitcode for process in processes] == [0] * WRITERS
    unique = WRITERS * PER_WRITER // 2 + PER_WRITER // 2  # writers overlap by half
    assert count(engine, schema.invocation) == unique
    assert count(engine, schema.case_result) == unique * 2 and count(engine, schema.run_result) == unique * 4
    assert count(engine, schema.machine) == 1 and count(engine, schema.software) == 1
    assert count(engine, schema.history_key) == 2
    with engine.connect() as connection:
        duplicates = connection.execute(select(schema.run_result.c.invocation_id, schema.run_result.c.case_key,
                                               schema.run_result.c.run_index)
                                        .group_by(schema.run_result.c.invocation_id, schema.run_result.c.case_key,
                                                  schema.run_result.c.run_index)
                                        .having(func.count() > 1)).all()
    assert duplicates == []
    engine.dispose()


def hold_a_transaction(url_text: str, ready) -> None:
    """Write a whole report inside a transaction, say so, and wait there to be killed."""
    engine = database.open_engine(database.resolve_url(url_text))
    with engine.begin() as connection:
        writer.write_report(connection, numbered_report(7), text="{}")
        ready.set()
        time.sleep(120)


def test_a_writer_killed_inside_its_transaction_leaves_no_partial_invocation(url):
    engine = database.open_engine(url)
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    process = context.Process(target=hold_a_transaction, args=(url.render_as_string(hide_password=False), ready))
    process.start()
    assert ready.wait(60)
    with engine.connect() as connection:  # written, not committed: nobody else sees it
        assert connection.execute(select(func.count()).select_from(schema.invocation)).scalar_one() == 0
    os.kill(process.pid, signal.SIGKILL)
    process.join(30)
    deadline = time.monotonic() + 30
    with engine.connect() as connection:  # the server notices the dropped connection and rolls it back
        while connection.execute(text("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in%'"))\
                .scalar_one() and time.monotonic() < deadline:
            time.sleep(0.1)
    assert [count(engine, t) for t in (schema.invocation, schema.case_result, schema.run_result)] == [0, 0, 0]
    again = writer.store_report(engine, numbered_report(7))  # and the report can be stored afterwards
    assert again.stored and (again.cases, again.runs) == (2, 4)
    engine.dispose()


def test_credentials_never_appear_in_errors(server):
    url = database.resolve_url(server.url).set(password="s3cret", database="absent")
    with pytest.raises(database.StoreError) as error:
        database.open_engine(url)
    assert "s3cret" not in str(error.value) and "postgres:***@" in str(error.value)
    assert 'database "absent" does not exist' in str(error.value)


def streamed_report(node: int, runs: int = 25):
    """A node's invocation: 2 cases of ``runs`` runs, started in the same second as every other node's on the same
    host name and hardware (a fleet started at once), told apart by its invocation id."""
    import dataclasses

    records = [CaseRecord.from_runs(reports.case(batch_size=size), [reports.run(0.01, i, seed=node * 1000 + i)
                                                                      for i in range(runs)]) for size in (64, 256)]
    made = reports.report(records, started="2026-12-01T10:00:00+00:00")
    return dataclasses.replace(made, invocation=dataclasses.replace(made.invocation, id=f"{node:016x}"))


def journal_of(report):
    from bench.results.journal import Entry

    return sorted((Entry("", r.key, run) for r in report.cases for run in r.runs), key=lambda e: e.record.index)


def stream_node(url_text: str, node: int, folder: str) -> None:
    """A node streaming its invocation run by run, its first 10 runs sent twice (retries), then its report."""
    import dataclasses
    from pathlib import Path

    from bench.store.stream import StreamRecorder

    report = streamed_report(node)
    recorder = StreamRecorder(database.resolve_url(url_text))
    recorder.begun([dataclasses.replace(report, cases=[])], [])
    journal = journal_of(report)
    for entry in journal + journal[:10]:
        recorder.run_finished(entry)
    path = report.dump(Path(folder) / f"node-{node}.json")
    recorder.reports_written([(report, path)])
    lines = recorder.complete()
    if recorder.error or not lines[0].startswith("recorded 1 report(s)"):
        raise SystemExit(f"node {node}: {lines}")


def test_16_nodes_streaming_at_once_store_every_run_once_and_every_invocation_done(url, tmp_path):
    engine = database.open_engine(url)
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=stream_node, args=(url.render_as_string(hide_password=False), node,
                                                           str(tmp_path)))
                 for node in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [process.exitcode for process in processes] == [0] * WRITERS
    inv, rr = schema.invocation, schema.run_result
    with engine.connect() as connection:
        states = connection.execute(select(inv.c.state, func.count()).group_by(inv.c.state)).all()
        per_invocation = connection.execute(select(rr.c.invocation_id, func.count()).group_by(rr.c.invocation_id)).all()
        duplicates = connection.execute(select(rr.c.invocation_id, rr.c.case_key, rr.c.run_index)
                                        .group_by(rr.c.invocation_id, rr.c.case_key, rr.c.run_index)
                                        .having(func.count() > 1)).all()
    assert [tuple(s) for s in states] == [("done", WRITERS)]
    assert sorted(n for _, n in per_invocation) == [50] * WRITERS and duplicates == []
    assert count(engine, schema.case_result) == WRITERS * 2 and count(engine, schema.machine) == 1
    engine.dispose()


def test_a_server_down_mid_run_leaves_a_running_row_that_the_suggested_import_completes(tmp_path):
    import dataclasses

    from bench.store import imports
    from bench.store.stream import StreamRecorder

    own = postgres_server.start(postgres_server.binaries())  # its own server: this test stops it
    try:
        url = database.resolve_url(own.create_database("outage"))
        report = streamed_report(1)
        journal = journal_of(report)
        recorder = StreamRecorder(url)
        recorder.begun([dataclasses.replace(report, cases=[])], [])
        for entry in journal[:5]:
            recorder.run_finished(entry)
        own.halt()  # the outage
        for entry in journal[5:]:
            recorder.run_finished(entry)
        assert len(recorder.streamed) == 5 and "OperationalError" in recorder.error
        path = report.dump(tmp_path / "r.json")
        recorder.reports_written([(report, path)])
        (line,) = recorder.complete()  # its one more try fails too: the server is still down
        assert "not recorded (OperationalError" in line
        assert line.endswith(f"upload it later with `python -m bench db import {path} --db {database.display(url)}`")
        own.restart()  # the server is back; the upload it suggested
        engine = database.open_engine(url)
        with engine.connect() as connection:
            assert connection.execute(select(schema.invocation.c.state)).scalars().all() == ["running"]
        assert count(engine, schema.run_result) == 5
        assert imports.import_paths(engine, [path]).stored == [path]
        with engine.connect() as connection:
            assert connection.execute(select(schema.invocation.c.state)).scalars().all() == ["done"]
        assert count(engine, schema.run_result) == 50 and count(engine, schema.case_result) == 2
        assert imports.import_paths(engine, [path]).already == [path]
        engine.dispose()
    finally:
        own.stop()


def test_fleet_jobs_tasks_node_results_and_history_on_postgresql(url):
    """Revision 0004's tables on PostgreSQL: the same fleet flow as tests/unit/test_fleet_history.py on SQLite
    (a job per week, tasks finished with their stored invocation, the node results and each node's history)."""
    from bench import fleet
    from bench.store import fleet as store
    from tests.unit.test_fleet_history import validation

    engine = database.open_engine(url)
    for week, (n1, n2) in enumerate([(0.010, 0.020), (0.011, 0.020)]):
        validation(engine, f"week{week}", "n1", n1, f"2026-11-0{week + 1}T10:00:00+00:00")
        validation(engine, f"week{week}", "n2", n2, f"2026-11-0{week + 1}T10:05:00+00:00")
    validation(engine, "now", "n1", 0.013, "2026-11-20T10:00:00+00:00")
    validation(engine, "now", "n2", 0.020, "2026-11-20T10:05:00+00:00")
    tasks = store.tasks_of(engine, "now")
    assert [(t.node, t.state, t.exit_code) for t in tasks] == [("n1", "done", 0), ("n2", "done", 0)]
    assert [r.node for r in store.node_results(engine, tasks)] == ["n1", "n2"]
    judged = fleet.report_since(engine, "2026-11-01")
    assert judged.tasks == 2 and judged.history["n1"].validations == 2
    assert judged.history["n1"].ratio == pytest.approx(0.013 / 0.0105)
    engine.dispose()
