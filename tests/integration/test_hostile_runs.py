"""Hostile inputs that need real worker processes (issue 21): no rank of a data-parallel run outlives a signal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import FAST, ROOT

TWO_RANKS = ["run", "--nproc-per-node", "2", "--device", "cpu", "--models", "mlp", "--modes", "train",
             "--backends", "eager", "--precisions", "fp32", "--batch-sizes", "32", "--runs", "2", *FAST]
# the single-process reference fails at once; rank 1 of the data-parallel case hangs in its run
FAULTS = "mlp-train-eager-fp32-bs32-cpu=raise;mlp-train-eager-fp32-bs32-cpu-ddp2-gloo=rank1:hang"


def command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # ended (or a zombie) meanwhile
        return ""


def still_running(processes: dict[tuple[int, float], psutil.Process]) -> list[str]:
    """Those of ``processes`` alive after up to 10 s (a zombie has ended; SIGKILL lands asynchronously)."""
    running: list[str] = []
    for _ in range(200):
        running = []
        for process in processes.values():
            try:  # is_running compares the start time too: a reused PID is not the same process
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    running.append(f"{process.pid} {command(process)[:120]}")
            except psutil.Error:
                continue
        if not running:
            return []
        time.sleep(0.05)
    return running


@pytest.mark.slow
@pytest.mark.parametrize("after_s", [0.0, 1.0])  # as the ranks start (before they can arm their own death
def test_5_no_rank_outlives_sigterm_with_two_ranks(tmp_path, after_s):  # signal), and once they run
    process = subprocess.Popen([sys.executable, "-m", "bench", *TWO_RANKS, "--case-timeout", "120",
                                "--out", str(tmp_path)], cwd=ROOT, env={**os.environ, "TORCHRIG_FAULT": FAULTS},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: dict[tuple[int, float], psutil.Process] = {}  # every process of the run's tree, collected while it runs
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                try:
                    seen.setdefault((child.pid, child.create_time()), child)
                except psutil.Error:
                    continue
            ranks = [p for p in seen.values() if "bench.measure.rank" in command(p)]
            if len(ranks) >= 1:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[0]
        assert ranks, "no rank started"
        time.sleep(after_s)
        for child in psutil.Process(process.pid).children(recursive=True):  # the latest tree too
            with contextlib.suppress(psutil.Error):
                seen.setdefault((child.pid, child.create_time()), child)
        os.kill(process.pid, signal.SIGTERM)  # `kill`, `timeout`: the executor only
        out, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 143, out
    assert "Traceback" not in out and "stopped by SIGTERM" in out
    assert still_running(seen) == []
    (journal,) = tmp_path.glob("*.journal")  # the failed reference run is kept for --resume
    assert journal.exists()


LAUNCHER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], start_new_session=True,  # as torchrun starts a rank
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_5_a_worker_killed_takes_its_descendants_in_other_sessions_along(tmp_path):
    """torchrun starts each rank in a session of its own, out of reach of the worker's process group: a
    rank that has not armed its own death signal yet (still starting) must die with the worker all the same."""
    from bench.run.process import Supervisor

    script = tmp_path / "launcher.py"
    script.write_text(LAUNCHER)
    supervisor = Supervisor()
    log = tmp_path / "log"
    exit_ = supervisor.run([sys.executable, str(script), "import time; time.sleep(60)", "60"], os.environ, 3.0, log)
    assert exit_.timed_out
    pid = int(log.read_text().split()[0])
    with contextlib.suppress(psutil.NoSuchProcess):  # gone already: killed with the worker
        rank = psutil.Process(pid)
        assert still_running({(pid, 0.0): rank}) == []


def test_5_a_rank_whose_launcher_died_before_it_armed_its_death_signal_exits(tmp_path):
    """The race of a rank still starting when its launcher is killed: adopted by init already, it cannot see
    that its parent changed; it checks that the executor is still its ancestor."""
    script = tmp_path / "launcher.py"
    script.write_text(LAUNCHER)
    rank_code = ("import time; time.sleep(1.0)\n"  # the launcher exits meanwhile: this process is adopted
                 "from bench.run.process import EXECUTOR_PID_ENV, die_with_parent\n"
                 "die_with_parent(EXECUTOR_PID_ENV)\n"
                 "time.sleep(60)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TORCHRIG_EXECUTOR_PID": str(os.getpid())}
    launcher = subprocess.run([sys.executable, str(script), rank_code, "0"], env=env, capture_output=True,
                              text=True, timeout=60, check=True)
    rank = psutil.Process(int(launcher.stdout.split()[0]))
    time.sleep(1.5)
    assert still_running({(rank.pid, 0.0): rank}) == []
