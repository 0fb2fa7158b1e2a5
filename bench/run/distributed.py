"""Data-parallel runs, the parent's side: each run of a data-parallel case is one torchrun launch of the
ranks in bench/measure/rank.py.

`python -m bench run --nproc-per-node N` measures every case on one process (the
reference) and as an N-process DistributedDataParallel case (NCCL on CUDA, gloo on the
CPU) whose identity carries the world size and backend. Rank 0 writes the run's record; a
rank that fails writes what happened beside the result, and the earliest such note names
the cause. On the CPU each rank gets cores / N threads, so N ranks use the cores one
reference process uses.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from bench.measure.jobs import CaseJob, WorkerRequest
from bench.results.records import RunRecord, Status
from bench.run.process import decoded_record, lost_record


def rank_failures(result_path: Path) -> list[dict]:
    """The failing ranks' notes, earliest first: the first to fail is the cause."""
    notes = []
    for path in result_path.parent.glob(result_path.name + ".rank*"):
        try:
            notes.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(notes, key=lambda note: note.get("time", 0.0))


def run_distributed(runner, setup, job: CaseJob, launch) -> RunRecord | None:
    """One run of a data-parallel case under torchrun; None when the run is stopping."""
    import psutil


    timeout = job.rules.case_timeout_s * 2 + 60  # N processes start, each may compile
    env = dict(setup.env)
    if job.case.device == "cpu" and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (psutil.cpu_count(logical=False) or 1) // launch.nproc_per_node))
    head = [setup.python, "-m", "torch.distributed.run", *launch.torchrun_args(), "-m", "bench.measure.rank"]
    data, exit_ = runner.call(dataclasses.replace(setup, env=env), WorkerRequest("case", case=job), timeout, head)
    if exit_.stopped:
        return None
    record = decoded_record(job, data, exit_, "rank 0")
    if record is not None:
        return record
    if launch.node_rank != 0 and exit_.returncode == 0:
        return RunRecord(job.index, Status.SKIPPED, f"node {launch.node_rank}: node 0 records the run")
    failures = rank_failures(exit_.result_file)
    if failures:
        first = failures[0]
        return RunRecord(job.index, Status(first["status"]), f"rank {first['rank']} failed: {first['error']}",
                         duration_s=exit_.seconds)
    return lost_record(job, exit_, timeout, "torchrun: ")

