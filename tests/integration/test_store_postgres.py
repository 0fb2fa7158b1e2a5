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
from bench.store import database, schema, writer
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
    with pytest.raises(database.StoreError, match=r"older than 0002: migrate it with `python -m bench db upgrade"):
        database.open_engine(url)
    state = database.upgrade(old)
    assert (state.current, state.head) == ("0001", "0002")
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
