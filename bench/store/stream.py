"""Streaming an invocation into the results database as it runs: `bench run` and `validate`.

Beside the journal, never instead of it: the journal is written first and is what --resume reads; the database is
told afterwards. When the invocation starts, its row is written in state ``running`` (one per setup, with an empty
report); each run, once journaled, is inserted in its own transaction (ON CONFLICT DO NOTHING on (invocation,
case, run index): a retried write and a --resume, which streams the journal's runs again first, are no-ops); at
the end its report completes the row (bench/store/writer.py's complete_invocation: case results, state ``done``
or ``interrupted``, the report's JSON for export; validate's verdict in the same transaction). A killed
invocation's row stays ``running`` with its finished runs, and its --resume completes it.

A database that cannot be reached, or fails mid-run, never stops the run: the first failure stops the streaming
(a down server would cost its connect timeout per run), the reports are written as always, one more try
completes them at the end when the database was reached at the start, and else ``lines`` says how to upload the
reports later (`bench db import`, which completes the partial rows instead of adding others). Nothing here
prints or raises: the caller prints ``lines``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import URL, Engine

from bench.results.journal import Entry
from bench.results.report import Report
from bench.store import rows, schema
from bench.store.database import StoreError, describe, display, open_engine
from bench.store.imports import write_envcheck
from bench.store.recorder import Verdict, later, write_verdict
from bench.store.writer import (
    RUN_KEY,
    insert_ignoring_duplicates,
    machine_and_software,
    report_blob,
    write_report,
)
from envcheck.stamps import now_iso

# What stops the streaming instead of the run: the database's errors, and anything else raised while writing to it
# (a listener must not raise into execute: the journal and the reports are what count, and the line that says how
# to upload them later names the error's type and first line)
FAILURES = (Exception,)  # SQLAlchemyError, StoreError, OSError, and the unforeseen


def begin_invocation(connection, report: Report, kind: str) -> int:
    """The row of an invocation that starts (or resumes): inserted as running, or, when its start key is there
    (a --resume, a retry), set running again unless it is done. Returns its id."""
    inv = schema.invocation
    key = rows.start_key(report)
    found = connection.execute(select(inv.c.id, inv.c.state).where(inv.c.start_key == key)).first()
    if found is None:
        machine_id, software_id = machine_and_software(connection, report)
        row = rows.invocation_row(report, kind, machine_id, software_id, report_blob(report), state=schema.RUNNING)
        row["invocation_key"] = key  # the report's own key needs its creation time: set when it completes
        inserted = connection.execute(insert_ignoring_duplicates(connection, inv, ("start_key",))
                                      .returning(inv.c.id), row).first()
        if inserted is not None:
            return inserted[0]
        found = connection.execute(select(inv.c.id, inv.c.state).where(inv.c.start_key == key)).one()
    if found.state != schema.DONE:
        connection.execute(inv.update().where(inv.c.id == found.id)
                           .values(state=schema.RUNNING, updated=rows.utc_text(now_iso())))
    return found.id


def write_runs(connection, invocation_id: int, entries: list[Entry]) -> None:
    """Finished runs of one invocation row (a run already there is left as it is), and the row's ``updated``."""
    if entries:
        connection.execute(insert_ignoring_duplicates(connection, schema.run_result, RUN_KEY),
                           [rows.streamed_run_row(entry.case, entry.record, invocation_id) for entry in entries])
    connection.execute(schema.invocation.update().where(schema.invocation.c.id == invocation_id)
                       .values(updated=rows.utc_text(now_iso())))


class StreamRecorder:
    """bench/run/plan.py's Listener on the results database at ``url``; ``kind``: run or validate."""

    def __init__(self, url: URL, kind: str = "run") -> None:
        self.url, self.kind = url, kind
        self.engine: Engine | None = None
        self.rows: dict[str, int] = {}  # setup label -> its invocation row
        self.error: str | None = None  # the first failure: streaming stopped there
        self.reached = False  # the database was open at the start
        self.streamed: set[tuple[str, str, int]] = set()  # (setup, case, run index) written as they finished
        self.reports: list[tuple[Report, Path]] | None = None
        self.lines: list[str] = []

    def fail(self, error: BaseException) -> None:
        """Stop streaming at the first failure, keeping what it was (never a password: describe, display)."""
        if self.error is None:
            self.error = (str(error).removeprefix(f"{display(self.url)}: ") if isinstance(error, StoreError)
                          else describe(error))
        self.close()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    # ---------------------------------------------------------------- Listener

    def begun(self, reports: list[Report], entries: list[Entry]) -> None:
        try:
            self.engine = open_engine(self.url)
            self.reached = True
            for report in reports:
                label = report.invocation.setup.label
                with self.engine.begin() as connection:  # a setup's row and the runs its journal holds
                    self.rows[label] = begin_invocation(connection, report, self.kind)
                    write_runs(connection, self.rows[label], [e for e in entries if e.setup == label])
        except FAILURES as error:
            self.fail(error)

    def run_finished(self, entry: Entry) -> None:
        if self.engine is None or entry.setup not in self.rows:
            return
        try:
            with self.engine.begin() as connection:
                write_runs(connection, self.rows[entry.setup], [entry])
            self.streamed.add((entry.setup, entry.case, entry.record.index))
        except FAILURES as error:
            self.fail(error)

    def reports_written(self, reports: list[tuple[Report, Path]] | None) -> None:
        self.reports = reports
        if reports is None:  # the disk refused them: the rows keep their runs, marked partial
            self.mark_interrupted()

    # ---------------------------------------------------------------- the end

    def complete(self, verdict: Verdict | None = None, env_report=None) -> list[str]:
        """Complete the rows with the written reports (``verdict`` and validate's ``env_report`` with the first,
        in its transaction); the lines to print."""
        reports = self.reports or []
        if not reports:
            self.close()
            return self.lines
        if self.engine is None and self.reached:  # it failed mid-run: one more try, on a fresh connection
            try:
                self.engine = open_engine(self.url)
                self.error = None
            except FAILURES as error:
                self.fail(error)
        if self.engine is None:
            self.lines += later([path for _, path in reports], self.url, self.error or "not reached").lines
            return self.lines
        stored = 0
        try:
            for number, (report, path) in enumerate(reports):
                with self.engine.begin() as connection:
                    written = write_report(connection, report, kind=self.kind, text=path.read_text(encoding="utf-8"))
                    if number == 0 and written.stored and verdict is not None:
                        write_verdict(connection, written.invocation_key, verdict)
                    if number == 0 and env_report is not None:
                        write_envcheck(connection, env_report)
                stored += written.stored
        except FAILURES as error:
            self.fail(error)
            self.lines += later([path for _, path in reports[stored:]], self.url, self.error).lines
            return self.lines
        finally:
            self.close()
        streamed = f", {len(self.streamed)} run(s) as they finished" if self.streamed else ""
        self.lines.append(f"recorded {stored} report(s) in {display(self.url)}{streamed}")
        return self.lines

    def mark_interrupted(self) -> None:
        if self.engine is None or not self.rows:
            return
        try:
            with self.engine.begin() as connection:
                connection.execute(schema.invocation.update()
                                   .where(schema.invocation.c.id.in_(sorted(self.rows.values())),
                                          schema.invocation.c.state == schema.RUNNING)
                                   .values(state=schema.INTERRUPTED, updated=rows.utc_text(now_iso())))
            self.lines.append(f"results database {display(self.url)}: the invocation is marked interrupted with "
                              f"its {len(self.streamed)} finished run(s); its journal holds them for --resume")
        except FAILURES as error:
            self.fail(error)
        self.close()
