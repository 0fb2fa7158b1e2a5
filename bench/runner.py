"""Runs cases in a worker process, surviving crashes, hangs and Ctrl-C.

A dead worker (segfault, abort) makes its case 'crashed'; a worker silent past
the per-case timeout is killed and its case is 'timeout'. Either way a fresh
worker takes the next case. Ctrl-C stops the run and keeps what finished.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import signal
import time
from collections.abc import Callable, Iterable

from bench.cases import Case, DeviceCaps, unsupported_reason
from bench.result import CaseResult
from bench.worker import WorkerSettings, serve

POLL_S = 0.2
STARTUP_TIMEOUT_S = 600.0  # importing torch and starting inductor's pool, on a loaded machine


class WorkerDied(Exception):
    def __init__(self, exitcode: int | None) -> None:
        super().__init__(exitcode)
        self.exitcode = exitcode

    def describe(self) -> str:
        code = self.exitcode
        if code is not None and code < 0:
            try:
                return f"worker killed by {signal.Signals(-code).name} (exit code {code})"
            except ValueError:
                pass
        return f"worker exited with code {code}"


class WorkerTimeout(Exception):
    pass


class Worker:
    """A spawned process running bench.worker.serve; one request at a time."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.process = None
        self.conn = None

    def start(self) -> None:
        """Spawn the worker and wait until it has imported torch and settled (not a case's time)."""
        context = multiprocessing.get_context("spawn")  # no CUDA state inherited by fork
        self.conn, child = context.Pipe()
        # not a daemon: end-to-end cases start DataLoader workers, which daemons may not
        self.process = context.Process(target=serve, args=(child, self.settings))
        self.process.start()
        child.close()
        self.receive(STARTUP_TIMEOUT_S)  # the worker's "ready"

    def request(self, message, timeout_s: float):
        if self.process is None:
            self.start()
        self.conn.send(message)
        return self.receive(timeout_s)

    def receive(self, timeout_s: float):
        """The worker's next message; WorkerTimeout or WorkerDied (with its exit code) otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.conn.poll(POLL_S):
                try:
                    return self.conn.recv()
                except EOFError:  # the worker closed its end: it is dying
                    break
            if not self.process.is_alive():
                break
        else:
            self.kill()
            raise WorkerTimeout()
        self.process.join(10)  # a dying process is not reaped at once; wait for its exit code
        exitcode = self.process.exitcode
        self.kill()
        raise WorkerDied(exitcode)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join(5)
        self.process = self.conn = None

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            try:
                self.conn.send(None)
                self.process.join(10)
            except (OSError, BrokenPipeError):
                pass
        self.kill()


@dataclasses.dataclass
class RunOutcome:
    results: list[CaseResult]
    ceilings: dict[str, float | str]
    interrupted: bool


def run_cases(cases: Iterable[Case], caps: DeviceCaps, settings: WorkerSettings, *,
              on_start: Callable[[int, int, Case], None] = lambda i, n, c: None,
              on_result: Callable[[int, int, CaseResult], None] = lambda i, n, r: None) -> RunOutcome:
    """Measure every case in order; never raises for a failing case."""
    cases = list(cases)
    runnable = [c for c in cases if unsupported_reason(c, caps) is None]
    precisions = sorted({c.precision for c in runnable})
    worker = Worker(settings)
    results: list[CaseResult] = []
    ceilings: dict[str, float | str] = {}
    interrupted = False
    try:
        if runnable:
            try:
                ceilings = worker.request(("ceilings", (runnable[0].device, precisions)),
                                          settings.rules.case_timeout_s)
            except (WorkerDied, WorkerTimeout) as error:
                ceilings = {p: f"unmeasured: {type(error).__name__}" for p in precisions}
        for index, case in enumerate(cases, 1):
            on_start(index, len(cases), case)
            result = _run_one(worker, case, caps, settings)
            results.append(result)
            on_result(index, len(cases), result)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        worker.stop()
    return RunOutcome(results, ceilings, interrupted)


def _run_one(worker: Worker, case: Case, caps: DeviceCaps, settings: WorkerSettings) -> CaseResult:
    reason = unsupported_reason(case, caps)
    if reason:
        return CaseResult(case, "skipped", reason)
    timeout = settings.rules.case_timeout_s
    start = time.perf_counter()
    try:
        return worker.request(("case", case), timeout)
    except WorkerTimeout:
        status, reason = "timeout", f"no result within the {timeout:g} s case timeout; worker killed"
    except WorkerDied as died:
        status, reason = "crashed", died.describe()
    return CaseResult(case, status, reason, duration_s=round(time.perf_counter() - start, 4))
