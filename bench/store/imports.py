"""`bench db import` and `bench db export`: reports and envcheck files in and out of the database.

Every file goes through its typed model first (Report.load, EnvReport.from_json): a foreign or malformed file is
refused with the reason, as everywhere else, and nothing of it is written. A file already in the database is
skipped (its unique key is there): importing a folder twice stores each report once. The export writes each
stored report's own JSON back (the text that was imported or written), so Report.load gives back what went in.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from bench.results.report import TOOL as BENCH_TOOL
from bench.results.report import Report, ReportError, read_json_file
from bench.store import rows, schema
from bench.store.writer import Written, ensure, insert_ignoring_duplicates, store_report
from envcheck.codec import DecodeError
from envcheck.files import inside, json_text, write_atomic
from envcheck.fingerprint import hardware_fingerprint
from envcheck.report import TOOL as ENVCHECK_TOOL
from envcheck.report import EnvReport


class MissingPath(ValueError):
    """A path given to import that does not exist."""


@dataclasses.dataclass
class ImportSummary:
    stored: list[Path] = dataclasses.field(default_factory=list)
    already: list[Path] = dataclasses.field(default_factory=list)
    refused: list[tuple[Path, str]] = dataclasses.field(default_factory=list)


def json_files(paths: list[Path]) -> list[Path]:
    """The files named, and the *.json files under each folder named (sorted); a missing path is refused."""
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.json") if p.is_file())
        elif path.exists():
            found.append(path)
        else:
            raise MissingPath(f"{path}: no such file or folder")
    return found


def read_document(path: Path) -> tuple[object, str]:
    """The file's parsed JSON and its text; ReportError when it cannot be read or is not strict JSON."""
    data = read_json_file(path, "a torchrig report or an envcheck JSON")
    try:
        return data, path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None


def tool_of(data: object) -> str | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("torchrig"), dict):
        return data["torchrig"].get("tool")
    return data.get("tool")


def envcheck_key(report: EnvReport) -> str:
    return rows.digest("envcheck", report.created, report.facts.system.hostname, report.as_dict()["facts"])


def write_envcheck(connection: Connection, report: EnvReport, text: str | None = None) -> Written:
    """One envcheck JSON and its checks, inside the caller's transaction (a second time: nothing)."""
    key = envcheck_key(report)
    table = schema.envcheck_report
    if connection.execute(select(table.c.id).where(table.c.envcheck_key == key)).first():
        return Written(key, stored=False)
    fingerprint = hardware_fingerprint(report.facts, "cuda" if report.facts.gpus else "cpu")
    machine_id = ensure(connection, schema.machine, "fingerprint", {fingerprint.id: rows.machine_row(fingerprint)})
    software = rows.software_row(report.facts)
    software_id = ensure(connection, schema.software, "software_key", {software["software_key"]: software})
    document = report.as_dict()
    blob = zlib.compress((text if text is not None else json_text(document)).encode())
    row = {"envcheck_key": key, "machine_id": machine_id[fingerprint.id],
           "software_id": software_id[software["software_key"]], "hostname": report.facts.system.hostname,
           "created": rows.utc_text(report.created), "verdict": report.verdict.value, "options": document["options"],
           "report": blob}
    inserted = connection.execute(insert_ignoring_duplicates(connection, table, ("envcheck_key",))
                                  .returning(table.c.id), row).first()
    if inserted is None:
        return Written(key, stored=False)
    checks = [{"envcheck_id": inserted[0], **check.as_dict(), "status": check.status.value} for check in report.checks]
    if checks:
        connection.execute(schema.envcheck_result.insert(), checks)
    return Written(key, stored=True, cases=len(checks))


def store_envcheck(engine: Engine, report: EnvReport, text: str | None = None) -> Written:
    with engine.begin() as connection:
        return write_envcheck(connection, report, text)


def import_file(engine: Engine, path: Path) -> Written:
    """Store one report or envcheck JSON (its own transaction). ReportError for anything else."""
    data, text = read_document(path)
    tool = tool_of(data)
    try:
        if tool == ENVCHECK_TOOL:
            return store_envcheck(engine, EnvReport.from_json(data), text)
        if tool == BENCH_TOOL or tool is None:  # None: the report model names what is wrong with it
            return store_report(engine, Report.from_json(data), kind="run", text=text)
    except DecodeError as error:
        raise ReportError(f"{path}: {error}") from None
    raise ReportError(f"{path}: a {tool!r} file; expected a torchrig report or an envcheck JSON")


def import_paths(engine: Engine, paths: list[Path]) -> ImportSummary:
    """Every file under ``paths``, each in its own transaction; a refused file does not stop the others."""
    summary = ImportSummary()
    for path in json_files(paths):
        try:
            written = import_file(engine, path)
        except ReportError as error:
            summary.refused.append((path, str(error)))
            continue
        (summary.stored if written.stored else summary.already).append(path)
    return summary


def export_reports(engine: Engine, out: Path) -> tuple[list[Path], list[tuple[str, str]], int]:
    """Every stored report as OUT/<machine-id>/<invocation key>.json, its stored JSON byte for byte; a file already
    there with the same name is left alone (the name is the key: it is this report). Returns the files written,
    (invocation key, reason) for each stored report that the report model refuses (it is not written), and how
    many invocations are still running (no report yet: their runs are in the database, their journal on disk)."""
    inv = schema.invocation
    written, refused = [], []
    with engine.connect() as connection:
        running = connection.execute(select(func.count()).select_from(inv)
                                     .where(inv.c.state == schema.RUNNING)).scalar_one()
        result = connection.execution_options(yield_per=100).execute(
            select(inv.c.invocation_key, inv.c.report).where(inv.c.state != schema.RUNNING)
            .order_by(inv.c.started, inv.c.invocation_key))
        for key, blob in result:
            text = zlib.decompress(blob).decode()
            try:
                report = Report.from_json(json.loads(text))  # never export what would not load
            except (ValueError, DecodeError) as error:
                refused.append((key, str(error)))
                continue
            path = inside(out, report.machine_id, f"{key[:16]}.json")
            try:
                written.append(write_atomic(path, text, overwrite=False))
            except FileExistsError:
                continue
    return written, refused, running
