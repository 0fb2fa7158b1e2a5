"""Recording in the results database for `envcheck`, and what `bench run` and `validate` share with it
(their runs are streamed: bench/store/stream.py).

Beside the JSON report and the journal, never instead of them: a database that cannot be reached or fails leaves
the report on disk with one line saying how to upload it later. Nothing here prints: the caller prints the lines
of ``Recorded``. envcheck's command line (envcheck/__main__.py) imports this module only, and only with a
database to write to: the architecture test allows exactly that edge from envcheck to bench.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from bench.store import schema
from bench.store.database import StoreError, StoreUsageError, describe, display, open_engine, resolve_url
from bench.store.imports import store_envcheck

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


def envcheck_database(value: str | None, no_db: bool) -> URL | None:
    """`python -m envcheck --db URL` (else TORCHRIG_DB, else the embedded SQLite file bench uses); None with
    --no-db. StoreUsageError (a ValueError) for a value that is no database."""
    if no_db:
        if value:
            raise StoreUsageError("--db and --no-db contradict each other; pass one")
        return None
    return resolve_url(value)


def record_envcheck(url: URL, report, path: Path | None) -> Recorded:
    """envcheck's report and its checks in one transaction (a second time: nothing); ``path``: its JSON file
    (--json), which a failure names for the upload later."""
    try:
        engine = open_engine(url)
    except StoreError as error:
        return envcheck_later(path, url, str(error).removeprefix(f"{display(url)}: "))
    try:
        written = store_envcheck(engine, report, path.read_text(encoding="utf-8") if path else None)
    except (SQLAlchemyError, OSError) as error:
        return envcheck_later(path, url, describe(error))
    finally:
        engine.dispose()
    return Recorded([f"envcheck: recorded in {display(url)}" + ("" if written.stored else " (already there)")])


def envcheck_later(path: Path | None, url: URL, error: str) -> Recorded:
    if path is not None:
        return Recorded(["envcheck: " + later([path], url, error).lines[0]], failed=True)
    return Recorded([f"envcheck: results database {display(url)}: not recorded ({error}); to upload a report "
                     f"later, write it with --json PATH and run `{IMPORT_COMMAND} PATH`"], failed=True)


def write_verdict(connection, invocation_key: str, verdict: Verdict) -> None:
    from sqlalchemy import select

    invocation_id = connection.execute(select(schema.invocation.c.id)
                                       .where(schema.invocation.c.invocation_key == invocation_key)).scalar_one()
    connection.execute(schema.validate_verdict.insert().values(
        invocation_id=invocation_id, verdict=verdict.name, exit_code=verdict.exit_code,
        threshold_pct=verdict.threshold_pct, baseline=verdict.baseline, reasons=[verdict.line]))
