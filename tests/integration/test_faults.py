"""Nothing lost: every failure of a run is recorded and the others go on; signals, kill -9 and a
full disk keep what finished, and leave no process behind. The orchestration tests use the
worker's early faults (raise, abort, hang happen before torch is imported) to stay fast."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from bench.__main__ import main as bench
from bench.results.records import Status
from bench.results.report import Report
from tests.conftest import FAST, ROOT, run_module

INFER = ["--device", "cpu", "--models", "mlp", "--modes", "infer", "--backends", "eager", "--precisions", "fp32",
         "--runs", "1", *FAST]


def reports_in(directory):
    return sorted(directory.glob("*/*.json"))


def faults(**by_batch: str) -> str:
    return ";".join(f"mlp-infer-eager-fp32-bs{batch.removeprefix('bs')}-cpu={fault}"
                    for batch, fault in by_batch.items())


def test_faults_are_recorded_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCHRIG_FAULT", faults(bs1="raise", bs2="abort", bs3="hang", bs4="raise"))
    assert bench(["run", *INFER, "--batch-sizes", "1,2,3,4", "--case-timeout", "4", "--out", str(tmp_path)]) == 1
    report = Report.load(reports_in(tmp_path)[0])
    got = {r.case.batch_size: (r.status, r.reason) for r in report.cases}
    assert got[1] == (Status.FAILED, "RuntimeError: injected failure")
    assert got[2] == (Status.CRASHED, "worker killed by SIGABRT (exit code -6)")
    assert got[3][0] is Status.TIMEOUT and "4 s case timeout" in got[3][1]
    assert got[4][0] is Status.FAILED  # the run went on after a crash and a hang


def test_a_non_finite_loss_fails_only_its_run_and_the_report_stays_strict_json(tmp_path):
    from bench.measure.protocol import with_losses
    from tests.reports import report, run

    failed = with_losses(run(0.01, 1), 2.3, float("nan"))
    assert failed.status is Status.FAILED and failed.reason == "non-finite loss at the end of the run (nan)"
    assert failed.loss_end is None and failed.loss_start == 2.3
    from bench.results.records import CaseRecord
    from tests.reports import case

    path = report([CaseRecord.from_runs(case(), [run(0.01, 0), failed])]).dump(tmp_path / "r.json")
    loaded = Report.load(path).cases[0]  # written and read back: null and a reason, never NaN
    assert loaded.status is Status.FAILED and loaded.reason.startswith("run 2 of 2: non-finite loss")


def test_out_of_memory_of_either_kind_is_oom():
    import torch

    from bench.measure.worker import outcome_of

    assert outcome_of(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")) is Status.OOM
    assert outcome_of(MemoryError()) is Status.OOM
    try:
        torch.empty(2**45, dtype=torch.uint8)  # 32 TiB: the CPU allocator's own refusal
    except RuntimeError as refusal:
        assert outcome_of(refusal) is Status.OOM  # a CPU out-of-memory is oom, not failed
    assert outcome_of(RuntimeError("shapes do not match")) is Status.FAILED


def start(tmp_path, env: dict[str, str]):
    """A run whose first case fails at once and whose second hangs; returned once the hang has started."""
    environ = {**os.environ, "TORCHRIG_FAULT": faults(bs1="raise", bs2="hang"), **env}
    process = subprocess.Popen([sys.executable, "-m", "bench", "run", *INFER, "--batch-sizes", "1,2,3",
                                "--out", str(tmp_path)], cwd=ROOT, env=environ, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen, deadline = "", time.monotonic() + 120
    while "bs2-cpu run 1 ..." not in seen:
        seen += process.stdout.read(1)
        assert time.monotonic() < deadline and process.poll() is None, seen
    for _ in range(100):  # the hanging worker is up
        children = [c.pid for c in psutil.Process(process.pid).children(recursive=True)]
        if children:
            return process, children
        time.sleep(0.05)
    raise AssertionError("no worker started")


def alive(pids: list[int]) -> list[int]:
    """The processes still running after up to 5 s (a zombie has ended; SIGKILL lands asynchronously)."""
    for _ in range(100):
        running = [pid for pid in pids
                   if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        if not running:
            return []
        time.sleep(0.05)
    return running


@pytest.mark.parametrize(("signals", "to_group", "code"), [
    # Ctrl-C reaches the whole process group; the second one must not give a traceback or wait on the hung worker
    ([signal.SIGINT, signal.SIGINT], True, 130),
    ([signal.SIGTERM], False, 143),  # `kill`, `timeout`: the main process only (a group gets SIGINT's path)
])
def test_signals_keep_the_finished_cases_and_leave_no_process(tmp_path, signals, to_group, code):
    process, children = start(tmp_path, {})
    for signum in signals:
        (os.killpg if to_group else os.kill)(process.pid, signum)
        time.sleep(0.2)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, out + err
    assert "Traceback" not in out + err and "stopped by SIG" in out
    (path,) = reports_in(tmp_path)
    report = Report.load(path)
    assert report.invocation.interrupted and [r.key for r in report.cases] == ["mlp-infer-eager-fp32-bs1-cpu"]
    assert f"--resume {tmp_path}" in out
    assert not alive(children)


@pytest.mark.slow
def test_kill_9_of_the_main_process_then_resume(tmp_path):
    process, children = start(tmp_path, {})
    process.kill()
    process.wait()
    time.sleep(0.5)
    assert not alive(children)  # the worker dies with its parent
    (journal,) = tmp_path.glob("*.journal")
    assert not reports_in(tmp_path)
    done = run_module("bench", "run", "--resume", str(journal),
                      env={"TORCHRIG_FAULT": faults(bs2="raise", bs3="raise")})
    assert "1 of 3 runs already recorded" in done.stdout, done.stdout + done.stderr
    (path,) = reports_in(tmp_path)
    report = Report.load(path)
    assert [r.case.batch_size for r in report.cases] == [1, 2, 3] and not report.invocation.interrupted
    assert report.invocation.cases_finished == 3 and not journal.exists()


def test_a_full_disk_during_the_run_is_one_line_and_the_journal_keeps_what_was_written(tmp_path, monkeypatch):
    from bench.results import journal as journal_module
    from bench.run.execute import execute
    from bench.run.plan import Plan
    from bench.run.request import InvocationRequest

    monkeypatch.setenv("TORCHRIG_FAULT", faults(bs1="raise", bs2="raise", bs3="raise"))
    real = journal_module.Journal.append
    appended = []

    def fill_up(self, entry):
        if appended:
            raise OSError(errno.ENOSPC, "No space left on device")
        appended.append(entry)
        real(self, entry)

    monkeypatch.setattr(journal_module.Journal, "append", fill_up)

    class Silent:
        def note(self, text): ...
        def started(self, *args): ...
        def finished(self, record): ...

    request = InvocationRequest(device="cpu", models=("mlp",), modes=("infer",), backends=("eager",),
                                precisions=("fp32",), batch_sizes=(1, 2, 3), runs=1, ceilings=(("fp32", 0.3),),
                                out=tmp_path)
    outcome = execute(request, Silent())
    assert outcome.error.startswith("cannot append to the journal") and "the disk is full" in outcome.error
    assert "--resume" in outcome.error and outcome.journal.exists()
    assert len(journal_module.Journal.open(outcome.journal, Plan)[2]) == 1
