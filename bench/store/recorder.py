"""Recording finished reports in the results database for `bench run`, `validate` and `envcheck`.

Beside the JSON report and the journal, never instead of them: the report is on disk before it is recorded, and
a database that cannot be reached or fails leaves it there with one line saying how to upload it later. Each
report is its own transaction. Nothing here prints: the caller prints the lines of ``Recorded``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from bench.results.report import Report
from bench.store import schema
from bench.store.database import StoreError, describe, display, open_engine, resolve_url
from bench.store.imports import write_envcheck
from bench.store.writer import write_report

IMPORT_COMMAND = "python -m bench db import"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """validate's verdict about the invocation of its report."""

    name: str  # healthy, broken, degraded, inconclusive
    exit_code: int
    line: str
    threshold_pct: float | None = None
    baseline: str | None = None


@dataclasses.dataclass(frozen=True)
class Recorded:
    lines: list[str]  # what to tell the user (one line per outcome, never a password)
    failed: bool = False


def later(paths: list[Path], url: URL, error: str) -> Recorded:
    names = " ".join(str(path) for path in paths) or "REPORT"
    db = "" if url == resolve_url(None, {}) else f" --db {display(url)}"
    return Recorded([f"results database {display(url)}: not recorded ({error}); the report is on disk: "
                     f"upload it later with `{IMPORT_COMMAND} {names}{db}`"], failed=True)


def record_reports(url: URL, reports: list[tuple[Report, Path]], kind: str = "run",
                   verdict: Verdict | None = None, env_report=None) -> Recorded:
    """Write each (report, path) in its own transaction; ``verdict`` and ``env_report`` (envcheck's, run by
    validate) belong to the first and go in its transaction."""
    if not reports:
        return Recorded([])
    try:
        engine = open_engine(url)
    except StoreError as error:
        return later([path for _, path in reports], url, str(error).removeprefix(f"{display(url)}: "))
    lines, stored, already = [], 0, 0
    try:
        for number, (report, path) in enumerate(reports):
            try:
                with engine.begin() as connection:
                    written = write_report(connection, report, kind=kind, text=path.read_text(encoding="utf-8"))
                    if number == 0 and written.stored and verdict is not None:
                        write_verdict(connection, written.invocation_key, verdict)
                    if number == 0 and env_report is not None:
                        write_envcheck(connection, env_report)
            except (SQLAlchemyError, OSError) as error:
                remaining = [p for _, p in reports[number:]]
                return Recorded(lines + later(remaining, url, describe(error)).lines, failed=True)
            stored += written.stored
            already += not written.stored
    finally:
        engine.dispose()
    note = f" ({already} already there)" if already else ""
    return Recorded(lines + [f"recorded {stored} report(s) in {display(url)}{note}"])


def write_verdict(connection, invocation_key: str, verdict: Verdict) -> None:
    from sqlalchemy import select

    invocation_id = connection.execute(select(schema.invocation.c.id)
                                       .where(schema.invocation.c.invocation_key == invocation_key)).scalar_one()
    connection.execute(schema.validate_verdict.insert().values(
        invocation_id=invocation_id, verdict=verdict.name, exit_code=verdict.exit_code,
        threshold_pct=verdict.threshold_pct, baseline=verdict.baseline, reasons=[verdict.line]))
