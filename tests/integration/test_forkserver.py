"""The fork server: a worker forked from an interpreter that imported torch once is still a process of its own
(its result, its timeout, a kill that ends it), a new server serves each round, and a server that cannot
start costs nothing but speed."""

from __future__ import annotations

import sys

import psutil

from bench.config import TimingRules
from bench.measure.jobs import CaseJob, Options, WorkerRequest
from bench.results.cases import Case
from bench.results.report import Setup
from bench.run.process import Runner, forkserver_enabled
from envcheck.codec import from_jsonable
from envcheck.report import Environment
from tests.unit.test_process import gone

THIS = Setup("", sys.executable)
HANG = Case("mlp", "train", "eager", "fp32", 3, "cpu")  # the batch size names the case the fault is for


def hang_job(index: int) -> WorkerRequest:
    return WorkerRequest("case", case=CaseJob(HANG, TimingRules(), index, Options()))


def test_a_forked_worker_does_the_job_and_a_round_gets_its_own_server(tmp_path):
    with Runner(tmp_path) as runner:
        data, exit_ = runner.call(THIS, WorkerRequest("snapshot"), 120)
        assert exit_.returncode == 0 and from_jsonable(Environment, data).facts.torch is not None
        first = runner.servers[("", sys.executable, ())][1]
        runner.call(THIS, WorkerRequest("snapshot"), 120)
        assert runner.servers[("", sys.executable, ())][1] is first  # the same round: the same server
        server_pid = first.process.pid
    assert gone([server_pid])  # closed with the runner


def test_a_hung_forked_worker_is_killed_at_its_timeout_and_the_next_round_is_served(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHRIG_FAULT", f"{HANG.key}=hang")
    with Runner(tmp_path) as runner:
        data, exit_ = runner.call(THIS, hang_job(0), 3, round_key=0)
        assert data is None and exit_.timed_out and exit_.returncode is None
        server = runner.servers[("", sys.executable, ())][1]
        left = [p for p in psutil.Process(server.process.pid).children(recursive=True)
                if p.status() != psutil.STATUS_ZOMBIE]
        assert left == [] and server.alive()  # the hung worker is gone (a live one would be the server's child)
        monkeypatch.delenv("TORCHRIG_FAULT")
        data, exit_ = runner.call(THIS, WorkerRequest("snapshot"), 120)  # round -1: a new server
        assert exit_.returncode == 0 and data is not None
        assert runner.servers[("", sys.executable, ())][1] is not server and not server.alive()


def test_a_server_that_cannot_start_falls_back_to_a_fresh_interpreter(tmp_path):
    broken = Setup("broken", "/bin/false")  # exits at once: no server, and no worker either
    with Runner(tmp_path) as runner:
        data, exit_ = runner.call(broken, WorkerRequest("snapshot"), 30)
        assert data is None and exit_.returncode == 1 and not runner.servers
    assert Runner(tmp_path, fork=False).server_for(THIS, 0) is None
    assert forkserver_enabled({"TORCHRIG_FORKSERVER": "1"}) and not forkserver_enabled({})
    assert not forkserver_enabled({"TORCHRIG_FORKSERVER": "0"})


def test_a_server_killed_under_its_worker_ends_the_run_at_once_as_a_crash(tmp_path, monkeypatch):
    """The OOM killer may pick the server (it holds torch): its worker dies with it, and the executor must
    see that at once, not wait out the case timeout."""
    import os
    import signal
    import threading
    import time

    monkeypatch.setenv("TORCHRIG_FAULT", f"{HANG.key}=hang")
    with Runner(tmp_path) as runner:
        got = {}
        thread = threading.Thread(target=lambda: got.update(result=runner.call(THIS, hang_job(0), 120, round_key=0)))
        thread.start()
        for _ in range(600):  # the server started and forked the worker
            held = runner.servers.get(("", sys.executable, ()))
            if held and psutil.Process(held[1].process.pid).children():
                break
            time.sleep(0.05)
        start = time.monotonic()
        os.kill(held[1].process.pid, signal.SIGKILL)
        thread.join(30)
        data, exit_ = got["result"]
    assert time.monotonic() - start < 10 and not exit_.timed_out and exit_.returncode == -signal.SIGKILL
