"""The supervisor: a timeout kills the worker and everything it started; a signal stops the run."""

from __future__ import annotations

import os
import signal
import sys
import time

import psutil

from bench.run.process import Supervisor

SPAWNER = """
import subprocess, sys, time
children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(2)]
print(" ".join(str(c.pid) for c in children), flush=True)
time.sleep(600)
"""


def pids_in(log) -> list[int]:
    for _ in range(100):
        text = log.read_text() if log.exists() else ""
        if text.strip():
            return [int(pid) for pid in text.split()]
        time.sleep(0.05)
    raise AssertionError("the worker never started its children")


def gone(pids: list[int]) -> bool:
    """Every process ended (a zombie has ended); SIGKILL is delivered asynchronously, so wait up to 5 s."""
    for _ in range(100):
        if all(not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_a_timeout_kills_the_whole_process_group(tmp_path):
    exit_ = Supervisor().run([sys.executable, "-c", SPAWNER], os.environ, 3.0, tmp_path / "log")
    assert exit_.timed_out and exit_.returncode is None
    assert "case timeout" in exit_.describe(3.0)
    assert gone(pids_in(tmp_path / "log"))


def test_a_crash_is_described_with_its_signal_and_last_line(tmp_path):
    crash = Supervisor().run([sys.executable, "-c", "import os; print('about to abort'); os.abort()"], os.environ,
                             30, tmp_path / "log")
    assert crash.describe(30) == "worker killed by SIGABRT (exit code -6)"
    error = Supervisor().run([sys.executable, "-c", "raise SystemExit('bad things')"], os.environ, 30,
                             tmp_path / "log2")
    assert error.describe(30) == "worker exited with code 1: bad things"


def test_stop_kills_the_running_worker_at_once(tmp_path):
    supervisor = Supervisor()
    signal.signal(signal.SIGALRM, lambda *_: supervisor.stop(signal.SIGTERM))
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        start = time.monotonic()
        exit_ = supervisor.run([sys.executable, "-c", SPAWNER], os.environ, 120, tmp_path / "log")
    finally:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    assert exit_.stopped and time.monotonic() - start < 10
    assert supervisor.stopped_by == signal.SIGTERM
    assert gone(pids_in(tmp_path / "log"))


def test_a_venv_of_this_python_is_another_interpreter(tmp_path):
    """A venv's python links to its base interpreter; it still runs other packages (the main job's matrix
    venvs looked like the orchestrator's own interpreter, and torch 'could not be imported')."""
    from bench.results.report import Setup
    from bench.run.process import is_this_interpreter

    venv_python = tmp_path / "venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.symlink_to(sys.executable)
    assert is_this_interpreter(Setup("here", sys.executable))
    assert not is_this_interpreter(Setup("venv", str(venv_python)))
    assert not is_this_interpreter(Setup("omp1", sys.executable, {"OMP_NUM_THREADS": "1"}))
