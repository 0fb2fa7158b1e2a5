"""Writing reports into the results database: one transaction per report, idempotent.

A report goes in whole or not at all (its invocation, cases and runs in one transaction). Unique keys make a
retried or repeated write a no-op: the invocation row is inserted with ON CONFLICT DO NOTHING on its
``invocation_key``, and when it was already there nothing else of the report is written. An invocation that was
streamed (bench/store/stream.py: its row written at its start, its runs as they finished) is found by its
``start_key`` and completed by its report instead (``complete_invocation``), unless it is done already or holds
a newer report than this one (an interrupted run's report, imported after its --resume finished). Machines, software
environments and history keys are shared between reports and inserted the same way, so that concurrent writers
(a fleet writing into one PostgreSQL) never duplicate them. SQL goes only through SQLAlchemy's bound parameters.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from bench.results.report import Report
from bench.store import rows, schema
from envcheck.files import json_text

COMPRESSION = 1  # zlib level of the stored report JSON: level 6 spent 7 ms a 200-case report in zlib, level 1 3 ms


@dataclasses.dataclass(frozen=True)
class Written:
    invocation_key: str
    stored: bool  # False: it was already in the database (nothing written)
    cases: int = 0
    runs: int = 0


def insert_ignoring_duplicates(connection: Connection, table: Table, unique: tuple[str, ...]):
    """INSERT ... ON CONFLICT (unique) DO NOTHING, in the connection's dialect (execute it with the rows); an
    empty ``unique``: a conflict on any unique key."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=list(unique) or None)


def ensure(connection: Connection, table: Table, key: str, rows_by_key: dict[str, dict[str, Any]]) -> dict[str, int]:
    """The ids of rows identified by ``key``, inserting those not there yet (sorted, so that concurrent writers
    take the unique index's locks in one order and never deadlock)."""
    if not rows_by_key:
        return {}
    keys = sorted(rows_by_key)
    column = table.c[key]
    found = dict(connection.execute(select(column, table.c.id).where(column.in_(keys))).all())
    missing = [rows_by_key[k] for k in keys if k not in found]
    if missing:
        connection.execute(insert_ignoring_duplicates(connection, table, (key,)), missing)
        found = dict(connection.execute(select(column, table.c.id).where(column.in_(keys))).all())
    return found


def report_blob(report: Report, text: str | None = None) -> bytes:
    """The report's JSON as written to disk (the file's own text when it was read from one), compressed."""
    return zlib.compress((text if text is not None else json_text(report.to_json())).encode(), COMPRESSION)


def machine_and_software(connection: Connection, report: Report) -> tuple[int, int]:
    """The ids of the report's machine and software rows (inserted if new)."""
    fingerprint = report.fingerprint
    machine_id = ensure(connection, schema.machine, "fingerprint", {fingerprint.id: rows.machine_row(fingerprint)})
    software = rows.software_row(report.environment.facts)
    software_id = ensure(connection, schema.software, "software_key", {software["software_key"]: software})
    return machine_id[fingerprint.id], software_id[software["software_key"]]


def write_report(connection: Connection, report: Report, *, kind: str = "run", text: str | None = None,
                 retry: bool = True) -> Written:
    """Write one report inside the caller's transaction: a new invocation, or the completion of its streamed
    row, or nothing when it is there already."""
    inv = schema.invocation
    key = rows.invocation_key(report)
    if connection.execute(select(inv.c.id).where(inv.c.invocation_key == key)).first():
        return Written(key, stored=False)
    streamed = connection.execute(select(inv.c.id, inv.c.state, inv.c.created)
                                  .where(inv.c.start_key == rows.start_key(report))).first()
    if streamed is not None:
        if streamed.state == schema.DONE or rows.utc_text(report.created) < streamed.created:
            return Written(key, stored=False)
        return complete_invocation(connection, streamed.id, report, text=text)
    machine_id, software_id = machine_and_software(connection, report)
    row = rows.invocation_row(report, kind, machine_id, software_id, report_blob(report, text))
    inserted = connection.execute(  # no conflict target: neither its invocation key nor its start key twice
        insert_ignoring_duplicates(connection, inv, ()).returning(inv.c.id), row).first()
    if inserted is None:  # another writer stored (or began streaming) it between our look and our insert
        return write_report(connection, report, kind=kind, text=text, retry=False) if retry else Written(key, False)
    invocation_id = inserted[0]
    case_rows, run_rows = result_rows(connection, report, invocation_id)
    # executemany: psycopg pipelines one prepared INSERT per row (multi-row INSERTs were slower: psycopg parses
    # each long statement anew)
    if case_rows:
        connection.execute(schema.case_result.insert(), case_rows)
    if run_rows:
        connection.execute(schema.run_result.insert(), run_rows)
    return Written(key, stored=True, cases=len(case_rows), runs=len(run_rows))


def result_rows(connection: Connection, report: Report, invocation_id: int) -> tuple[list[dict], list[dict]]:
    """The report's case and run rows for ``invocation_id``, its history keys inserted first."""
    context = rows.history_context(report)
    fingerprint = report.fingerprint.id
    histories = {record.key: rows.history_row(record.key, fingerprint, context) for record in report.cases}
    if histories:  # sorted: concurrent writers take the key's index locks in one order
        connection.execute(insert_ignoring_duplicates(connection, schema.history_key, ("history_key",)),
                           sorted(histories.values(), key=lambda row: row["history_key"]))
    case_rows = [rows.case_row(record, invocation_id, histories[record.key]["history_key"]) for record in report.cases]
    run_rows = [rows.run_row(record, run, invocation_id) for record in report.cases for run in record.runs]
    return case_rows, run_rows


RUN_KEY = ("invocation_id", "case_key", "run_index")


def complete_invocation(connection: Connection, invocation_id: int, report: Report, *,
                        text: str | None = None) -> Written:
    """Fill a streamed invocation's row with its report, inside the caller's transaction: its columns, its state
    (done or interrupted), its report's JSON, its case results (replacing an earlier partial report's) and the
    runs it has that were not streamed (those that were are left as they are). Its kind stays what it began
    as. Nothing when another writer completed it first (the row's state is checked and set in one UPDATE)."""
    inv = schema.invocation
    machine_id, software_id = machine_and_software(connection, report)
    row = rows.invocation_row(report, "run", machine_id, software_id, report_blob(report, text))
    del row["kind"]
    claimed = connection.execute(inv.update().where(inv.c.id == invocation_id, inv.c.state != schema.DONE)
                                 .values(**row))
    if claimed.rowcount != 1:
        return Written(row["invocation_key"], stored=False)
    connection.execute(schema.case_result.delete().where(schema.case_result.c.invocation_id == invocation_id))
    case_rows, run_rows = result_rows(connection, report, invocation_id)
    if case_rows:
        connection.execute(schema.case_result.insert(), case_rows)
    if run_rows:
        connection.execute(insert_ignoring_duplicates(connection, schema.run_result, RUN_KEY), run_rows)
    return Written(row["invocation_key"], stored=True, cases=len(case_rows), runs=len(run_rows))


def store_report(engine: Engine, report: Report, *, kind: str = "run", text: str | None = None) -> Written:
    """Write one report in its own transaction (all of it, or none of it)."""
    with engine.begin() as connection:
        return write_report(connection, report, kind=kind, text=text)
