"""The worker process: measures cases sent by the runner, one at a time.

Cases run in a separate process so that a segfault, an abort or a hang loses one
case, not the run. The worker turns Python-level failures into a status (oom,
failed); the runner turns a dead or silent worker into crashed or timeout.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import resource
import signal
import time
from pathlib import Path

from bench.cases import Case
from bench.config import TimingRules
from bench.result import CaseResult
from envcheck.records import first_line


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    rules: TimingRules
    checkpoint: Path | None  # given by the user; else made per model in checkpoint_dir
    checkpoint_dir: Path
    data_dir: Path | None = None  # for end-to-end cases on MNIST
    workers: int = 0  # DataLoader worker processes of end-to-end cases


def inject_fault(fault: str) -> None:
    """Test-only faults, so every failure path of the runner can be exercised on a CPU."""
    import torch

    if fault == "raise":
        raise RuntimeError("injected failure")
    if fault == "oom":
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB (injected)")
    if fault == "abort":
        os.abort()
    if fault == "hang":
        time.sleep(24 * 3600)
    raise ValueError(f"unknown fault {fault!r}")


def checkpoint_for(case: Case, settings: WorkerSettings) -> Path | None:
    """The checkpoint a fine-tune case starts from; made by a short pre-training if none is given."""
    if case.mode != "finetune":
        return None
    if settings.checkpoint is not None:
        return settings.checkpoint
    from models import get_model
    from models.finetune import pretrain_checkpoint

    path = settings.checkpoint_dir / f"{case.model}.pt"
    if not path.exists():
        pretrain_checkpoint(get_model(case.model), path)
    return path


@functools.cache
def training_data(source: str, data_dir: Path | None):
    """The training split of an end-to-end case's data, loaded once per worker."""
    from bench.data import dataset

    return dataset(source, data_dir, train=True)


def run_case(case: Case, settings: WorkerSettings) -> CaseResult:
    """Measure one case; Python-level failures become a status, never an exception."""
    import torch

    from bench.measure import measure_case

    start = time.perf_counter()
    try:
        if case.fault and not case.fault.startswith("rank"):  # rankN:... faults are for data-parallel runs
            inject_fault(case.fault)
        data = training_data(case.data, settings.data_dir) if case.data != "synthetic-device" else None
        return measure_case(case, settings.rules, checkpoint_for(case, settings), data=data,
                            workers=settings.workers)
    except torch.OutOfMemoryError as error:
        status, reason = "oom", first_line(error)
    except Exception as error:  # noqa: BLE001 - a failing case is recorded, the run goes on
        status, reason = "failed", first_line(error)
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return CaseResult(case, status, reason, duration_s=round(time.perf_counter() - start, 4))


def measure_ceilings(device: str, precisions: list[str]) -> dict[str, float | str]:
    """TFLOP/s per precision, or the reason it could not be measured."""
    from bench.ceiling import matmul_tflops
    from bench.measure import device_clock

    ceilings: dict[str, float | str] = {}
    for precision in precisions:
        try:
            ceilings[precision] = round(matmul_tflops(device, precision, device_clock(device)), 4)
        except Exception as error:  # noqa: BLE001
            ceilings[precision] = f"unmeasured: {first_line(error)}"
    return ceilings


def serve(conn, settings: WorkerSettings) -> None:
    """Answer (kind, payload) requests until told to stop (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides what Ctrl-C means
    # no core files: dumping a process that holds torch (GBs) can outlast the case timeout,
    # turning a crash into a 'timeout' (seen under load), and fills the disk
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    from bench.measure import settle_compile_workers

    settle_compile_workers()
    conn.send(("ready", os.getpid()))
    while True:
        request = conn.recv()
        if request is None:
            return
        kind, payload = request
        if kind == "case":
            conn.send(run_case(payload, settings))
        elif kind == "ceilings":
            conn.send(measure_ceilings(*payload))
        else:
            raise ValueError(f"unknown request {kind!r}")
