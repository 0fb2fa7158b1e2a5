"""A data-parallel rank: one run of one data-parallel case under torchrun (`python -m bench.measure.rank`).

Every rank measures with the same protocol; the ranks agree on warm-up and steps per round so that their
collectives line up; rank 0 gathers each rank's median step and writes the run's record. A rank that fails
writes what happened beside the result and exits at once; torchrun then stops the others (the
process-group timeout bounds any collective left waiting). bench/run/distributed.py launches it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench.measure.jobs import CaseJob, WorkerRequest
from bench.measure.worker import EXECUTOR_PID_ENV, die_with_parent, prepare_process
from bench.results.records import Status
from envcheck.codec import from_jsonable, read_json, to_jsonable
from envcheck.files import write_json_atomic

ALLREDUCE_MAX_BYTES = {"cpu": 16 * 2**20, "cuda": 256 * 2**20}
GROUP_TIMEOUT_S = 600.0


def rank_env() -> tuple[int, int, int]:
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))


def bus_bandwidth(algorithm_bandwidth: float, world_size: int) -> float:
    """nccl-tests' all-reduce bus bandwidth: algbw * 2(n-1)/n."""
    return algorithm_bandwidth * 2 * (world_size - 1) / world_size


def allreduce_sizes(device_kind: str) -> list[int]:
    return [2**k for k in range(10, ALLREDUCE_MAX_BYTES[device_kind].bit_length(), 2)]


def measure_allreduce(device: str, world_size: int) -> list[dict[str, float]]:
    """Time all-reduce of float32 tensors of growing size; the slowest rank's time counts."""
    import torch
    import torch.distributed as dist

    rows = []
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for nbytes in allreduce_sizes(torch.device(device).type):
        tensor = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
        iterations = max(5, min(100, 2**24 // nbytes))
        for _ in range(3):
            dist.all_reduce(tensor)
        sync()
        start = time.perf_counter()
        for _ in range(iterations):
            dist.all_reduce(tensor)
        sync()
        elapsed = torch.tensor([(time.perf_counter() - start) / iterations], dtype=torch.float64, device=device)
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
        seconds = elapsed.item()
        algbw = nbytes / seconds / 1e9
        rows.append({"bytes": nbytes, "iterations": iterations, "time_s": seconds,
                     "algbw_gbps": algbw, "busbw_gbps": bus_bandwidth(algbw, world_size)})
    return rows


def rank_main(request_path: str, result_path: str) -> None:
    """The rank program: one run of one data-parallel case; rank 0 writes the record."""
    die_with_parent(EXECUTOR_PID_ENV)  # torchrun's agent is the parent: a killed run leaves no rank behind
    request = from_jsonable(WorkerRequest, read_json(Path(request_path)))
    job: CaseJob = request.case
    prepare_process(job.cache_dir)
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from bench.measure.protocol import run_case
    from bench.measure.worker import cache_state, fault_for, inject, outcome_of
    from envcheck.records import first_line

    rank, world_size, local_rank = rank_env()
    case = job.case
    cuda = case.device == "cuda"
    if cuda:
        torch.cuda.set_device(local_rank)
    device = f"cuda:{local_rank}" if cuda else "cpu"
    dist.init_process_group(case.dist_backend, timeout=timedelta(seconds=min(job.rules.case_timeout_s,
                                                                             GROUP_TIMEOUT_S)))

    def agree(done: bool, steps: int) -> tuple[bool, int]:
        votes = torch.tensor([0 if done else 1, steps], dtype=torch.int64, device=device)
        dist.all_reduce(votes, op=dist.ReduceOp.MAX)
        return votes[0].item() == 0, int(votes[1].item())

    def wrap(model):
        return DistributedDataParallel(model, device_ids=[local_rank] if cuda else None)

    try:
        fault = fault_for(case.key)
        if fault and fault.startswith(f"rank{rank}:"):
            inject(fault.split(":", 1)[1])
        if case.micro is not None:  # the all-reduce micro-benchmark: no model, its own sweep
            from bench.measure.micro import run_micro_case

            record = run_micro_case(case, job.rules, job.index, device=device, agree=agree, own_pid=os.getppid(),
                                    fault=fault, sweep=measure_allreduce)
        else:
            record = run_case(case, job.rules, job.options, job.index, cache_state(job.cache_dir), wrap, agree,
                              own_pid=os.getppid())  # the agent's tree: the other ranks are the work, not noise
    except Exception as error:  # noqa: BLE001 - record who failed and why, then stop at once
        write_json_atomic(Path(f"{result_path}.rank{rank}"), {"rank": rank, "status": outcome_of(error).value,
                                                              "error": first_line(error), "time": time.time()})
        os._exit(1)  # leave the collectives; torchrun ends the other ranks
    steps: list[float] = [0.0] * world_size
    dist.all_gather_object(steps, record.step_s if record.status is Status.OK else None)
    rows = measure_allreduce(device, world_size) if job.index == 0 and case.micro is None else []
    if rank == 0 and case.micro is not None:
        write_json_atomic(Path(result_path), to_jsonable(record))  # one figure: the slowest rank's, no rank sum
    elif rank == 0:
        ranks = [s for s in steps if s] if record.status is Status.OK else []
        record = dataclasses.replace(record, rank_step_s=ranks, allreduce=rows)
        write_json_atomic(Path(result_path), to_jsonable(record))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    rank_main(*sys.argv[1:3])
