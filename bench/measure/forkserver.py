"""A fork server: an interpreter of one setup that has imported torch but never run an op or touched CUDA,
and forks a fresh worker process for each job (`python -m bench.measure.forkserver`, started by
bench/run/process.py).

A run's fixed cost on a 2-core VM was ~3.5 s for ~0.5 s of timed rounds, 2.6 s of it starting Python and
importing torch, torchvision and bench: with the imports done once per server a run costs what it measures.
Each worker is still a process of its own (its own memory, peak RSS, threads, compile state, inductor
cache, and a session so that a kill of its group ends it and its children), so a crash, a hang or an OOM
still costs one run. The executor starts a new server for every round of its round-robin (bench/run/
process.py), so that runs of one case do not all inherit one server's memory layout.

Protocol, one JSON object a line: the server writes {"ready": PID}; then for each {"request", "result",
"log"} it reads, it forks, writes {"pid": CHILD} and, once the child has ended, {"exit": CODE} (negative:
killed by that signal, as subprocess reports it). End of input ends the server; so does its parent's death.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

PRELOAD = ("torch", "torchvision", "bench.measure.worker", "bench.measure.protocol")


def preload() -> None:
    """Import what every worker imports; an import that fails is left for the worker to report."""
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a broken torch is the worker's finding, with its message
            continue


PROTOCOL = None  # the server's own copy of its stdout: what an import prints cannot corrupt the protocol


def answer(message: dict) -> None:
    PROTOCOL.write(json.dumps(message) + "\n")
    PROTOCOL.flush()


def child(job: dict) -> None:
    """In the forked worker: a session of its own, output to its log, then the worker's job; never returns."""
    code = 1
    try:
        os.setsid()
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the descriptors above, for the worker's prints
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        from bench.measure.worker import EXECUTOR_PID_ENV, die_with_parent, main

        die_with_parent(EXECUTOR_PID_ENV)  # the server is the parent; the executor must still be above
        code = main([job["request"], job["result"]])
    except SystemExit as stop:
        code = 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - the traceback goes to the run's log, the exit code says it failed
        import traceback

        traceback.print_exc()
    finally:
        import atexit

        with contextlib.suppress(BaseException):  # what a fresh interpreter does at exit: its exit functions
            atexit._run_exitfuncs()  # (multiprocessing's, inductor's pool), then no unwinding into the server
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> int:
    global PROTOCOL
    from bench.measure.worker import die_with_parent

    die_with_parent()
    PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed from here on goes to the server's log, not into the protocol
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    preload()
    answer({"ready": os.getpid()})
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            PROTOCOL.close()  # the worker never speaks the protocol
            child(job)
        answer({"pid": pid})
        _, status = os.waitpid(pid, 0)
        answer({"exit": os.waitstatus_to_exitcode(status)})
    return 0


if __name__ == "__main__":
    sys.exit(serve())
