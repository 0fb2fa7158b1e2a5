"""The worker: a fresh process that does one job and writes its result (`python -m bench.measure.worker REQ OUT`).

One run of one case per process (docs/measurement.md, rule 10: the unit of replication), so that a
segfault, an abort or a hang loses one run, peak memory is the run's own, and runs are
independent samples. The worker turns Python-level failures into a status (oom, failed);
the executor turns a dead or silent worker into crashed or timeout. The same process
set-up serves data-parallel ranks (bench/run/distributed.py).

Jobs: ``case`` (a RunRecord), ``ceilings`` (the matmul ceiling per precision) and
``snapshot`` (envcheck's environment of this interpreter).
"""

from __future__ import annotations

import ctypes
import fnmatch
import os
import resource
import signal
import socket
import sys
import time
from pathlib import Path

from bench.measure.jobs import CaseJob, WorkerRequest
from bench.results.records import RunRecord, Status
from envcheck.codec import from_jsonable, read_json, to_jsonable
from envcheck.files import write_json_atomic
from envcheck.records import first_line

PR_SET_PDEATHSIG = 1  # prctl(2)
EXECUTOR_PID_ENV = "TORCHRIG_EXECUTOR_PID"  # set by the executor for its workers; a DDP rank checks it
FAULT_ENV = "TORCHRIG_FAULT"  # test-only: "CASE-KEY-GLOB=fault[;...]" (raise, oom, cpu-oom, abort, hang, nan,
# slow:F: every step F slower, e.g. slow:0.5); "NODE@CASE-KEY-GLOB=fault" only where the Slurm node (SLURMD_NODENAME)
# or the host is NODE, so that one array's task on one node of a fleet test is the slow one
NODE_ENVS = ("SLURMD_NODENAME", "TORCHRIG_NODE")


def die_with_parent(ancestor_env: str | None = None) -> None:
    """In the child, before exec: SIGKILL when the parent dies (Linux); exit if it already has.

    With ``ancestor_env`` (a DDP rank, which sets this once Python runs, long after its fork): exit unless
    the process named by that environment variable (the executor) is still an ancestor. A rank whose
    launcher was killed while it started has been adopted by init already, so "the parent changed" cannot
    be seen from inside it any more."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the timeout still bounds the worker
        return
    if os.getppid() != parent:
        os._exit(1)
    expected = os.environ.get(ancestor_env) if ancestor_env else None
    if expected and expected.isdigit():
        import psutil

        try:
            ancestors = {p.pid for p in psutil.Process().parents()}
        except psutil.Error:
            ancestors = set()
        if int(expected) not in ancestors:
            os._exit(1)


def prepare_process(cache_dir: str | None = None) -> None:
    """What every measuring process does first, before torch runs anything (a worker, forked with torch imported
    but never used, or a DDP rank): inductor and triton read their cache folders when they first compile."""
    # no core files: dumping a process that holds torch (GBs) can outlast the case timeout,
    # turning a crash into a 'timeout' (seen under load), and fills the disk
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if cache_dir:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache_dir
        os.environ["TRITON_CACHE_DIR"] = str(Path(cache_dir) / "triton")


def cache_state(cache_dir: str | None) -> str:
    if cache_dir is None:
        return "unknown"
    folder = Path(cache_dir)
    return "warm" if folder.is_dir() and any(folder.iterdir()) else "cold"


def fault_for(key: str, environ=os.environ) -> str | None:
    """The fault a test asked this case to suffer (TORCHRIG_FAULT), or None."""
    for rule in filter(None, environ.get(FAULT_ENV, "").split(";")):
        pattern, _, fault = rule.partition("=")
        node, at, glob = pattern.rpartition("@")
        if at and node not in {environ.get(name) for name in NODE_ENVS} | {socket.gethostname()}:
            continue
        if fnmatch.fnmatchcase(key, glob):
            return fault
    return None


def slowdown_of(fault: str | None) -> float:
    """F of a ``slow:F`` fault (0 for any other); a malformed F is a test's mistake, raised."""
    if not fault or not fault.startswith("slow:"):
        return 0.0
    fraction = float(fault.removeprefix("slow:"))
    if not 0 < fraction < 100:
        raise ValueError(f"{FAULT_ENV}: slow:F needs 0 < F < 100, got {fraction}")
    return fraction


EARLY_FAULTS = ("raise", "abort", "hang")  # need no torch: injected before it is imported


def inject(fault: str) -> None:
    """Test-only faults, so that every failure path can be exercised on a CPU."""
    if fault == "raise":
        raise RuntimeError("injected failure")
    if fault == "abort":
        os.abort()
    if fault == "hang":
        time.sleep(24 * 3600)
    import torch

    if fault == "oom":
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB (injected)")
    if fault == "cpu-oom":
        torch.empty(2**45, dtype=torch.uint8)  # 32 TiB: the CPU allocator refuses at once


def outcome_of(error: BaseException) -> Status:
    """oom for any allocator refusal (CUDA, or the CPU's 'can't allocate memory'); else failed."""
    torch = sys.modules.get("torch")  # not imported: the error cannot be torch's
    text = str(error)
    if isinstance(error, MemoryError) or (torch is not None and isinstance(error, torch.OutOfMemoryError)) or (
            isinstance(error, RuntimeError) and ("can't allocate memory" in text or "not enough memory" in text)):
        return Status.OOM
    return Status.FAILED


def run_case_job(job: CaseJob) -> RunRecord:
    started = time.perf_counter()
    cache = cache_state(job.cache_dir)
    fault = fault_for(job.case.key)
    try:
        if fault and not fault.startswith(("rank", "bitflip", "slow:")):  # rankN:... faults are for data-parallel
            inject(fault)  # ranks, bitflip:N for the corruption check (bench/measure/micro.py), slow:F for the timer
        if job.case.micro is not None:
            from bench.measure.micro import run_micro_case  # imports torch

            return run_micro_case(job.case, job.rules, job.index, fault=fault)
        from bench.measure.protocol import run_case, with_losses  # imports torch

        record = run_case(job.case, job.rules, job.options, job.index, cache, slowdown=slowdown_of(fault))
        return with_losses(record, record.loss_start, float("nan")) if fault == "nan" else record
    except Exception as error:  # noqa: BLE001 - a failing run is recorded, the run goes on
        return RunRecord(job.index, outcome_of(error), first_line(error),
                         duration_s=round(time.perf_counter() - started, 4))


def handle(request: WorkerRequest):
    if request.kind == "case":
        return run_case_job(request.case)
    if request.kind == "ceilings":
        from bench.measure.ceiling import measure_ceilings

        return measure_ceilings(request.ceilings.device, request.ceilings.precisions)
    if request.kind == "snapshot":
        from envcheck import snapshot

        return snapshot()
    raise ValueError(f"unknown worker request {request.kind!r}")


def main(argv: list[str] | None = None) -> int:
    request_path, result_path = argv if argv is not None else sys.argv[1:]
    request = from_jsonable(WorkerRequest, read_json(Path(request_path)))
    prepare_process(request.case.cache_dir if request.case else None)
    write_json_atomic(Path(result_path), to_jsonable(handle(request)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
