"""`bench run` records its report in the results database, and goes on without one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from bench.__main__ import main as bench
from bench.results.report import Report
from bench.store import database, schema
from tests.conftest import FAST, ROOT, run_module

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


def rows_of(db):
    """(state, kind) of each invocation, and (case, run index, status) of each run, read by another connection."""
    engine = database.open_engine(database.resolve_url(str(db)))
    with engine.connect() as connection:
        invocations = [tuple(r) for r in connection.execute(select(schema.invocation.c.state,
                                                                   schema.invocation.c.kind))]
        runs = sorted(tuple(r) for r in connection.execute(select(schema.run_result.c.case_key,
                                                                  schema.run_result.c.run_index,
                                                                  schema.run_result.c.status)))
        cases = connection.execute(select(func.count()).select_from(schema.case_result)).scalar_one()
    engine.dispose()
    return invocations, runs, cases


@pytest.mark.slow
def test_a_run_is_in_the_database_while_it_runs_a_kill_leaves_it_running_and_its_resume_completes_it(tmp_path):
    from tests.integration.test_faults import INFER, faults, reports_in

    db = tmp_path / "results.db"
    environ = {**os.environ, "TORCHRIG_FAULT": faults(bs1="raise", bs2="hang")}
    process = subprocess.Popen([sys.executable, "-m", "bench", "run", *INFER, "--batch-sizes", "1,2,3",
                                "--out", str(tmp_path), "--db", str(db)], cwd=ROOT, env=environ,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen, deadline = "", time.monotonic() + 120
    while "bs2-cpu run 1 ..." not in seen:  # bs1's run has failed (injected) and is journaled; bs2 hangs
        seen += process.stdout.read(1)
        assert time.monotonic() < deadline and process.poll() is None, seen
    bs1 = "mlp-infer-eager-fp32-bs1-cpu"
    assert rows_of(db) == ([("running", "run")], [(bs1, 0, "failed")], 0)  # streamed while it runs
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    assert rows_of(db) == ([("running", "run")], [(bs1, 0, "failed")], 0)  # killed: running, with its run
    (journal,) = tmp_path.glob("*.journal")
    done = run_module("bench", "run", "--resume", str(journal), "--db", str(db), env={"TORCHRIG_FAULT": ""})
    assert done.returncode == 1, done.stdout + done.stderr  # bs1 failed
    (path,) = reports_in(tmp_path)
    assert f"recorded 1 report(s) in sqlite:///{db}, 2 run(s) as they finished" in done.stdout
    invocations, runs, cases = rows_of(db)
    assert invocations == [("done", "run")] and cases == 3
    assert runs == [(bs1, 0, "failed"), ("mlp-infer-eager-fp32-bs2-cpu", 0, "ok"),
                    ("mlp-infer-eager-fp32-bs3-cpu", 0, "ok")]
    again = run_module("bench", "db", "import", str(path), "--db", str(db))
    assert again.stdout.strip() == f"imported 0 file(s) into sqlite:///{db}, 1 already there, 0 refused"
    assert rows_of(db) == (invocations, runs, cases)
