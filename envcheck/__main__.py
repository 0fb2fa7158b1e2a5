"""`python -m envcheck`: exit 0 when nothing FAILs, 1 when something does, 2 on bad usage.

The report is also recorded in torchrig's results database (--db, else TORCHRIG_DB, else the embedded SQLite file
bench uses; --no-db skips it). That is the one place envcheck uses bench: imported here, inside the functions
that need it, and only when there is a database (envcheck's own modules never import bench, and envcheck runs
where bench's dependencies are missing)."""

from __future__ import annotations

import sys
from pathlib import Path

from envcheck.checks import CheckOptions
from envcheck.checks.install import parse_version
from envcheck.checks.registry import DEFAULT_MIN_TORCH
from envcheck.cli import EXIT_FAIL, EXIT_OK, OneLineParser, UsageError, exit_usage
from envcheck.files import OutputError, check_output_file, json_tool, replace_own_json
from envcheck.junit import TestCase, check_junit_path, write_junit
from envcheck.records import Status
from envcheck.render import render
from envcheck.report import TOOL, EnvReport, build_report
from envcheck.text import printable


def parse_args(argv: list[str] | None):
    parser = OneLineParser(prog="envcheck", description="Is this PyTorch install healthy?")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the report as JSON (replaces only an earlier envcheck JSON)")
    parser.add_argument("--junit-xml", type=Path, metavar="PATH",
                        help="also write JUnit XML, one testcase per check, for CI systems")
    parser.add_argument("--quick", action="store_true", help="skip the slow checks (compile, numerics sweeps)")
    parser.add_argument("--require-cuda", action="store_true", help="FAIL when no CUDA device is usable")
    parser.add_argument("--min-torch", default=DEFAULT_MIN_TORCH, metavar="VERSION",
                        help=f"oldest acceptable torch (default {DEFAULT_MIN_TORCH})")
    parser.add_argument("--db", metavar="URL",
                        help=f"results database to record the report in: a SQLite file or postgresql://USER@HOST/DB "
                             f"(default $TORCHRIG_DB if set, else {DB_DEFAULT}, bench's)")
    parser.add_argument("--no-db", action="store_true", help="do not record the report in the results database")
    args = parser.parse_args(argv)
    args.database = database_url(args)
    if len(parse_version(args.min_torch)) < 2:
        raise UsageError(f"--min-torch expects a version like 2.1, got {args.min_torch!r}")
    try:  # before the checks run: a bad path is found in a second, not after a minute
        if args.json is not None:
            check_output_file(args.json, lambda path: json_tool(path) == TOOL, "an envcheck JSON report")
        if args.junit_xml is not None:
            check_junit_path(args.junit_xml, TOOL)
    except OutputError as error:
        raise UsageError(str(error)) from None
    return args


DB_DEFAULT = "results/torchrig.db"  # bench/config.py's DB_DEFAULT (tests/unit/test_architecture.py checks it)
MISSING = "missing"  # database_url: a database is asked for, but bench's database packages are not installed


def database_url(args):
    """The results database's URL, None with --no-db, or MISSING (then record says so); a value that is no
    database is a usage error before any check runs."""
    if args.no_db and not args.db:
        return None
    try:
        from bench.store.recorder import envcheck_database
    except ModuleNotFoundError as error:
        args.missing = error.name
        return MISSING
    try:
        return envcheck_database(args.db, args.no_db)
    except ValueError as error:
        raise UsageError(str(error)) from None


def record(args, report: EnvReport) -> None:
    """The report into the results database; a database down or failing costs one line that says how to
    upload the report later (the exit code stays the checks')."""
    if args.database is None:
        return
    if args.database == MISSING:
        print(printable(f"envcheck: results database: not recorded (missing package {args.missing!r}: pip install "
                        "sqlalchemy alembic)" + (f"; upload it later with `python -m bench db import {args.json}`"
                                                 if args.json else "")))
        return
    from bench.store.recorder import record_envcheck

    for line in record_envcheck(args.database, report, args.json).lines:
        print(printable(line))


def junit_cases(report: EnvReport) -> list[TestCase]:
    outcome = {Status.FAIL: "failure", Status.SKIP: "skipped"}
    cases = []
    for check in report.checks:
        kind = outcome.get(check.status, "passed")
        text = f"fix: {check.fix}" if check.status is Status.FAIL else (
            f"WARN: {check.detail}\nfix: {check.fix}" if check.status is Status.WARN else "")
        cases.append(TestCase("envcheck", check.name, kind, check.detail, text, check.duration_s or 0.0))
    return cases


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except UsageError as error:
        exit_usage("envcheck", error)
    options = CheckOptions(min_torch=args.min_torch, require_cuda=args.require_cuda, quick=args.quick)
    report = build_report(options)
    render(report)
    try:
        if args.json is not None:
            replace_own_json(args.json, report.as_dict(), TOOL)
            print(f"envcheck: wrote {args.json}")
        if args.junit_xml is not None:
            write_junit(args.junit_xml, TOOL, {"envcheck": junit_cases(report)})
            print(f"envcheck: wrote {args.junit_xml}")
    except OutputError as error:
        exit_usage("envcheck", error)
    record(args, report)
    return EXIT_FAIL if report.verdict is Status.FAIL else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
