"""`bench run` records its report in the results database, and goes on without one."""

from __future__ import annotations

from sqlalchemy import func, select

from bench.__main__ import main as bench
from bench.results.report import Report
from bench.store import database, schema
from tests.conftest import FAST

CASE = ["--device", "cpu", "--models", "mlp", "--modes", "infer", "--backends", "eager", "--precisions", "fp32",
        "--batch-sizes", "4", "--runs", "1", *FAST]


def test_a_run_whose_database_is_down_writes_its_report_and_says_how_to_upload_it(tmp_path, capsys):
    down = "postgresql://bench:hunter2@127.0.0.1:1/results"
    assert bench(["run", *CASE, "--out", str(tmp_path), "--db", down]) == 0
    out = capsys.readouterr().out
    (path,) = sorted(tmp_path.glob("*/*.json"))
    (line,) = [line for line in out.splitlines() if line.startswith("results database")]
    assert "hunter2" not in out and "not recorded (OperationalError" in line
    assert line.endswith(f"upload it later with `python -m bench db import {path} "
                         "--db postgresql+psycopg://bench:***@127.0.0.1:1/results`")
    report = Report.load(path)
    db = tmp_path / "later.db"
    assert bench(["db", "import", str(path), "--db", str(db)]) == 0
    engine = database.open_engine(database.resolve_url(str(db)))
    with engine.connect() as connection:
        stored = connection.execute(select(schema.case_result.c.case_key, schema.case_result.c.step_s)).all()
        runs = connection.execute(select(func.count()).select_from(schema.run_result)).scalar_one()
    engine.dispose()
    assert stored == [(report.cases[0].key, report.cases[0].step_s)] and runs == 1
