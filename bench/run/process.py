"""Worker processes under supervision: a timeout, a kill that reaches every descendant, and signals.

A worker is started as a fresh interpreter, or, with TORCHRIG_FORKSERVER=1, forked by its setup's fork server
(bench/measure/forkserver.py: torch imported once, a new server for every round of the round-robin; a fresh
interpreter when the server cannot start); either way it is a process of its own. Forking is not the default:
on the 2-core VM forked workers measured the MLP train step 22-31 % slower than fresh interpreters (medians
3.65-4.05 ms against 2.93-3.05 ms in four interleaved blocks of 10 runs; the bare loop 2.55-2.95 ms), a level
that is not what a user's program sees, for 2.8 s less per run.

Each worker runs in a session (process group) of its own, so that ending it ends its
children too (inductor's compile workers, DataLoader workers, the resource tracker), and
so that Ctrl-C in the terminal reaches only the executor, which decides what it means:
SIGINT, SIGTERM and SIGHUP all stop the run after the current worker is killed, and a
second signal changes nothing (no traceback, no wait on a hung worker). A worker also dies
with its parent (PR_SET_PDEATHSIG), so a `kill -9` of the executor leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from bench.measure.jobs import CaseJob
from bench.measure.worker import EXECUTOR_PID_ENV, die_with_parent
from bench.results.records import RunRecord, Status
from envcheck.codec import DecodeError, from_jsonable, read_json, to_jsonable
from envcheck.files import write_json_atomic

ROOT = Path(__file__).resolve().parents[2]  # the checkout: workers import bench from here

POLL_S = 0.1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FORKSERVER_ENV = "TORCHRIG_FORKSERVER"  # "1": fork runs from a server (faster starts, a biased level: see above)
SERVER_START_S = 300.0  # importing torch on a loaded machine; past it the run starts an interpreter of its own


@dataclasses.dataclass(frozen=True)
class Exit:
    returncode: int | None  # None: killed by the supervisor
    timed_out: bool
    stopped: bool  # killed because the run is stopping (a signal)
    seconds: float
    log_tail: str
    result_file: Path | None = None  # where the job's result was to be written (Runner.call sets it)

    def describe(self, timeout_s: float) -> str:
        if self.timed_out:
            return f"no result within the {timeout_s:g} s case timeout; worker killed"
        code = self.returncode
        if code is not None and code < 0:
            try:
                return f"worker killed by {signal.Signals(-code).name} (exit code {code})"
            except ValueError:
                pass
        last = next((line for line in reversed(self.log_tail.splitlines()) if line.strip()), "")
        return f"worker exited with code {code}" + (f": {last.strip()[:200]}" if last else "")


class Supervisor:
    """Runs one worker at a time; a signal handler calls ``stop`` to end the run."""

    def __init__(self) -> None:
        self.current: subprocess.Popen | None = None
        self.stopped_by: int | None = None  # the signal that stopped the run

    def run(self, argv: Sequence[str], env: Mapping[str, str], timeout_s: float, log: Path) -> Exit:
        """A fresh interpreter running ``argv``."""
        start = time.monotonic()
        with open(log, "w", encoding="utf-8", errors="replace") as handle:
            process = subprocess.Popen(list(argv), env=dict(env), stdout=handle, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True,
                                       preexec_fn=die_with_parent)  # noqa: PLW1509 - no threads here
            return self.supervise(process, start, timeout_s, log)

    def run_forked(self, server: ForkServer, request: Path, result: Path, timeout_s: float, log: Path) -> Exit:
        """A worker forked by ``server``, supervised as if it were our child."""
        start = time.monotonic()
        return self.supervise(server.fork(request, result, log), start, timeout_s, log)

    def supervise(self, process, start: float, timeout_s: float, log: Path) -> Exit:
        self.current = process
        timed_out = False
        try:
            while True:
                if self.stopped_by is not None:
                    break
                try:
                    process.wait(timeout=POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() - start > timeout_s:
                        timed_out = True
                        break
        finally:
            kill_group(process)  # also after a normal exit: stragglers of its session (a rank left
            self.current = None  # in a collective, a DataLoader worker) must not outlive it
        # a worker that finished on its own before a signal keeps its result; one we ended has none
        ended_by_us = timed_out or (self.stopped_by is not None and process.returncode != 0)
        return Exit(None if ended_by_us else process.returncode, timed_out, ended_by_us and not timed_out,
                    round(time.monotonic() - start, 4), tail(log))

    def stop(self, signum: int) -> None:
        """From a signal handler: remember why, and kill the running worker's group now."""
        self.stopped_by = self.stopped_by or signum
        if self.current is not None:
            kill_group(self.current, wait=False)


def kill_group(process, wait: bool = True) -> None:
    """SIGKILL to the worker's session and to every descendant of it, found before anything is killed: a
    descendant in a session of its own (torchrun starts each rank in one) is out of the group's reach,
    and once its parent is dead it is no longer anyone's descendant."""
    descendants = []
    unreaped = process.returncode is None  # its PID still names it (its parent has not reaped it yet)
    if unreaped:
        with contextlib.suppress(Exception):  # psutil.Error: the worker is gone, or /proc is not readable
            import psutil

            descendants = psutil.Process(process.pid).children(recursive=True)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # stragglers keep the group's ID in use
        os.killpg(process.pid, signal.SIGKILL)
    if unreaped:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # a forked worker before its setsid
            os.kill(process.pid, signal.SIGKILL)
    for child in descendants:
        with contextlib.suppress(Exception):
            child.kill()  # psutil checks the PID still names that process (no kill of a reused PID)
    if wait:
        process.wait()


class ForkServerError(RuntimeError):
    """The server did not start or stopped answering; the run falls back to an interpreter of its own."""


class ForkedWorker:
    """A worker forked by a ForkServer, with the part of subprocess.Popen's interface supervision uses."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server, self.pid, self.returncode = server, pid, None

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code (negative: the signal that killed it); subprocess.TimeoutExpired after ``timeout``."""
        if self.returncode is None:
            message = self.server.read(timeout)
            if message is None and not self.server.gone:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            # the server's answer, or the server gone (its workers die with it: SIGKILL by their death signal)
            self.returncode = int(message["exit"]) if message and "exit" in message else -signal.SIGKILL
        return self.returncode


class ForkServer:
    """One setup's fork server (bench/measure/forkserver.py) and the pipe the executor talks to it over."""

    def __init__(self, python: str, env: Mapping[str, str], log: Path, stopping=lambda: False) -> None:
        """Start the server and wait for it to have imported torch; ``stopping()`` true (a signal stops the
        invocation) ends the wait at once."""
        with open(log, "w", encoding="utf-8", errors="replace") as handle:
            self.process = subprocess.Popen([python, "-m", "bench.measure.forkserver"], env=dict(env),
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=handle,
                                            start_new_session=True, text=True, bufsize=1,
                                            preexec_fn=die_with_parent)  # noqa: PLW1509 - no threads here
        self.buffer, self.gone = "", False
        deadline = time.monotonic() + SERVER_START_S
        ready = None
        while ready is None and not self.gone and not stopping() and time.monotonic() < deadline:
            ready = self.read(POLL_S)
        if not ready or "ready" not in ready:
            self.close()
            raise ForkServerError(f"the fork server did not start (see {log})")

    def read(self, timeout: float | None) -> dict | None:
        """The server's next message; None on a timeout, or when the server has gone (``gone`` says which)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while "\n" not in self.buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.process.stdout], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.process.stdout.fileno(), 65536).decode("utf-8", errors="replace")
            if not chunk:
                self.gone = True  # end of its output: the server has exited or was killed
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split("\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    def fork(self, request: Path, result: Path, log: Path) -> ForkedWorker:
        try:
            self.process.stdin.write(json.dumps({"request": str(request), "result": str(result),
                                                 "log": str(log)}) + "\n")
            self.process.stdin.flush()
        except OSError as error:
            raise ForkServerError(f"the fork server has gone ({error})") from None
        answer = self.read(SERVER_START_S)
        if not answer or "pid" not in answer:
            raise ForkServerError("the fork server did not fork the worker")
        return ForkedWorker(self, int(answer["pid"]))

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_group(self.process)
        with contextlib.suppress(OSError):
            self.process.stdout.close()


def forkserver_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(FORKSERVER_ENV, "0") == "1"


def tail(path: Path, size: int = 4000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - size))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


@contextlib.contextmanager
def stop_on_signals(supervisor: Supervisor) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP stop the run (the finished runs are kept); handlers restored after."""

    def handler(signum, _frame) -> None:
        supervisor.stop(signum)

    previous = {}
    for signum in STOP_SIGNALS:
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class Runner:
    """Starts workers in a setup's interpreter; shared by planning and execution."""

    def __init__(self, work_dir: Path, fork: bool | None = None) -> None:
        self.work_dir = work_dir
        self.supervisor = Supervisor()
        self.count = 0
        self.fork = forkserver_enabled() if fork is None else fork
        self.servers: dict[tuple, tuple[int | str, ForkServer]] = {}  # setup -> (round it serves, its server)

    def call(self, setup, request, timeout_s: float, argv_head=None, round_key: int | str = -1) -> tuple[object, Exit]:
        """Run a worker job; (decoded JSON result or None, how the process ended). ``argv_head``: start this
        command instead of a worker (torchrun's launcher), always as a fresh process. ``round_key``: the
        round of the round-robin the job belongs to (a new fork server for each)."""
        self.count += 1
        folder = self.work_dir / "jobs"
        folder.mkdir(parents=True, exist_ok=True)
        request_file, result_file = folder / f"{self.count}.request.json", folder / f"{self.count}.result.json"
        log = folder / f"{self.count}.log"
        write_json_atomic(request_file, to_jsonable(request))
        server = self.server_for(setup, round_key) if argv_head is None else None
        exit_ = None
        if server is not None:
            try:
                exit_ = self.supervisor.run_forked(server, request_file, result_file, timeout_s, log)
            except ForkServerError:
                self.drop(setup)
        if exit_ is None:
            argv = [*(argv_head or [setup.python, "-m", "bench.measure.worker"]), str(request_file), str(result_file)]
            exit_ = self.supervisor.run(argv, worker_env(setup), timeout_s, log)
        exit_ = dataclasses.replace(exit_, result_file=result_file)
        try:
            return read_json(result_file), exit_
        except (OSError, DecodeError):
            return None, exit_

    def server_for(self, setup, round_key: int | str) -> ForkServer | None:
        """The setup's fork server for this round of the round-robin (a new one when the round changes), or
        None: forking is off, or the server cannot start (the run then starts an interpreter of its own)."""
        if not self.fork:
            return None
        key = (setup.label, setup.python, tuple(sorted(setup.env.items())))
        held = self.servers.get(key)
        if held is not None and held[0] == round_key and held[1].alive():
            return held[1]
        self.drop(setup)
        folder = self.work_dir / "jobs"
        try:
            server = ForkServer(setup.python, worker_env(setup), folder / f"{self.count}.server.log",
                                lambda: self.supervisor.stopped_by is not None)
        except (OSError, ForkServerError):
            return None
        self.servers[key] = (round_key, server)
        return server

    def drop(self, setup) -> None:
        held = self.servers.pop((setup.label, setup.python, tuple(sorted(setup.env.items()))), None)
        if held is not None:
            held[1].close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End every fork server (each also ends with this process)."""
        for _, server in self.servers.values():
            server.close()
        self.servers.clear()




def worker_env(setup) -> dict[str, str]:
    env = {**os.environ, **setup.env, EXECUTOR_PID_ENV: str(os.getpid())}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def is_this_interpreter(setup) -> bool:
    """The setup's python is the one running now, with nothing changed. Symlinks are not followed: a
    virtual environment's python is a link to its base interpreter, and the link is what says which
    environment (site-packages) it runs (resolved, every venv of one base Python looked like this one)."""
    return os.path.abspath(setup.python) == os.path.abspath(sys.executable) and not setup.env


# ---------------------------------------------------------------- a process's exit as a run record


def decoded_record(job: CaseJob, data, exit_: Exit, who: str) -> RunRecord | None:
    """The record a worker (or rank 0) wrote, with the process's wall time; None if it wrote none."""
    if data is None:
        return None
    try:
        return dataclasses.replace(from_jsonable(RunRecord, data), duration_s=exit_.seconds)
    except DecodeError as error:
        return RunRecord(job.index, Status.FAILED, f"{who}'s result is unreadable: {error}")


def lost_record(job: CaseJob, exit_: Exit, timeout_s: float, prefix: str = "") -> RunRecord:
    """A run that left no result: it hung past its timeout, or its process died."""
    status = Status.TIMEOUT if exit_.timed_out else Status.CRASHED
    return RunRecord(job.index, status, prefix + exit_.describe(timeout_s), duration_s=exit_.seconds)
