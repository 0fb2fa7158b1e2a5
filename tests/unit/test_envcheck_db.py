"""`python -m envcheck --db URL | --no-db`: the report into the results database (default: bench's SQLite file),
and when the database is down, the JSON written as always and one line that says how to upload it later."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bench import config
from bench.__main__ import main as bench
from bench.store import database, schema
from envcheck import __main__ as envcheck
from envcheck.checks import CheckOptions
from envcheck.cli import UsageError
from envcheck.records import failed, passed
from envcheck.report import EnvReport
from tests import reports

DOWN = "postgresql://bench:hunter2@127.0.0.1:1/results"


def env_report() -> EnvReport:
    return EnvReport(reports.ENVIRONMENT.facts, (passed("torch import", "2.14.1"),
                                                 failed("cuda", "no device", "install a driver")),
                     CheckOptions(), "2026-11-30T09:00:00+00:00")


def stored(db) -> list[tuple]:
    engine = database.open_engine(database.resolve_url(str(db)))
    with engine.connect() as connection:
        found = [tuple(r) for r in connection.execute(select(schema.envcheck_report.c.verdict,
                                                             schema.envcheck_report.c.hostname))]
    engine.dispose()
    return found


def test_the_report_is_recorded_once_in_the_database_named(tmp_path, capsys):
    db = tmp_path / "results.db"
    args = envcheck.parse_args(["--db", str(db)])
    envcheck.record(args, env_report())
    envcheck.record(args, env_report())
    assert capsys.readouterr().out.splitlines() == [f"envcheck: recorded in sqlite:///{db}",
                                                    f"envcheck: recorded in sqlite:///{db} (already there)"]
    assert stored(db) == [("FAIL", reports.ENVIRONMENT.facts.system.hostname)]


def test_the_default_is_torchrig_db_else_bench_s_embedded_file_and_no_db_skips(tmp_path, monkeypatch):
    monkeypatch.setenv(config.DB_ENV, str(tmp_path / "env.db"))
    assert envcheck.parse_args([]).database.database == str(tmp_path / "env.db")
    monkeypatch.delenv(config.DB_ENV)
    assert envcheck.parse_args([]).database.database == config.DB_DEFAULT
    assert envcheck.parse_args(["--no-db"]).database is None
    with pytest.raises(UsageError, match="--db and --no-db contradict each other"):
        envcheck.parse_args(["--db", "x.db", "--no-db"])
    with pytest.raises(UsageError, match="unsupported database 'mysql'"):
        envcheck.parse_args(["--db", "mysql://u@h/d"])


def test_a_database_down_leaves_the_json_and_says_how_to_upload_it(tmp_path, capsys):
    path = tmp_path / "env.json"
    report = env_report()
    path.write_text(json.dumps(report.as_dict()))
    envcheck.record(envcheck.parse_args(["--db", DOWN, "--json", str(path)]), report)
    (line,) = capsys.readouterr().out.splitlines()
    assert "hunter2" not in line and "not recorded (OperationalError" in line
    assert line.endswith(f"upload it later with `python -m bench db import {path} "
                         "--db postgresql+psycopg://bench:***@127.0.0.1:1/results`")
    db = tmp_path / "later.db"
    assert bench(["db", "import", str(path), "--db", str(db)]) == 0  # the upload it names works
    assert stored(db) == [("FAIL", reports.ENVIRONMENT.facts.system.hostname)]
    capsys.readouterr()
    envcheck.record(envcheck.parse_args(["--db", DOWN]), report)  # no --json: nothing on disk to upload
    (line,) = capsys.readouterr().out.splitlines()
    assert line.endswith("to upload a report later, write it with --json PATH and run "
                         "`python -m bench db import PATH`")


def test_without_the_database_packages_it_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "bench.store.recorder", None)  # an environment without SQLAlchemy
    args = envcheck.parse_args(["--db", str(tmp_path / "x.db"), "--json", str(tmp_path / "env.json")])
    envcheck.record(args, env_report())
    assert capsys.readouterr().out.strip() == (
        "envcheck: results database: not recorded (missing package 'bench.store.recorder': pip install sqlalchemy "
        f"alembic); upload it later with `python -m bench db import {tmp_path / 'env.json'}`")
    assert not (tmp_path / "x.db").exists()
