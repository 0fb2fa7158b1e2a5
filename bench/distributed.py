"""Data-parallel throughput: the program each rank runs under torchrun, and the front end's launcher.

`python -m bench run --nproc-per-node N` measures each case on one process first
(the scaling reference), then launches ``torch.distributed.run`` (torchrun) with
this module as the rank program: every rank wraps the model in
DistributedDataParallel (NCCL on CUDA, gloo on the CPU) and measures with the
same protocol; the ranks agree on warm-up and steps per round so that their
collectives line up. Rank 0 appends each finished case to a JSON-lines file, so
a later failure loses nothing already measured. A rank whose case raises writes
what happened to an error file and exits at once; torchrun then stops the others
(the process-group timeout bounds any collective left waiting).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.cases import Case
from bench.config import TimingRules
from bench.result import CaseResult

ALLREDUCE_MAX_BYTES = {"cpu": 16 * 2**20, "cuda": 256 * 2**20}


@dataclasses.dataclass(frozen=True)
class LaunchSpec:
    """What the front end hands every rank (written as JSON)."""

    cases: list[dict[str, Any]]
    rules: dict[str, Any]
    results_file: str
    errors_dir: str
    checkpoint_dir: str
    timeout_s: float
    allreduce: bool = True


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


def append_line(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def rank_main(spec_path: str) -> None:
    """The rank program: measure every case under DDP; rank 0 records."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from bench.measure import CaseRun, settle_compile_workers
    from bench.timing import measure_rounds
    from bench.worker import WorkerSettings, checkpoint_for, inject_fault
    from envcheck.records import first_line

    spec = LaunchSpec(**json.loads(Path(spec_path).read_text()))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # as in bench.worker: no multi-GB core files
    rank, world_size, local_rank = rank_env()
    cases = [Case(**c) for c in spec.cases]
    cuda = bool(cases) and cases[0].device == "cuda"
    if cuda:
        torch.cuda.set_device(local_rank)
    device = f"cuda:{local_rank}" if cuda else "cpu"
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=spec.timeout_s))
    settle_compile_workers()
    rules = TimingRules(**spec.rules)
    settings = WorkerSettings(rules, None, Path(spec.checkpoint_dir) / f"rank{rank}")

    def agree(done: bool, steps: int) -> tuple[bool, int]:
        votes = torch.tensor([0 if done else 1, steps], dtype=torch.int64, device=device)
        dist.all_reduce(votes, op=dist.ReduceOp.MAX)
        return votes[0].item() == 0, int(votes[1].item())

    def wrap(model):
        return DistributedDataParallel(model, device_ids=[local_rank] if cuda else None)

    for case in cases:
        try:
            if case.fault and case.fault.startswith(f"rank{rank}:"):
                inject_fault(case.fault.split(":", 1)[1])
            run = CaseRun(dataclasses.replace(case, fault=None), rules, checkpoint_for(case, settings),
                          wrap=wrap, agree=agree)
            steps = run.prepare()
            result = run.finish(measure_rounds(run.step, run.clock, rules, steps))
        except Exception as error:  # noqa: BLE001 - record who failed and why, then stop at once
            kind = "oom" if isinstance(error, torch.OutOfMemoryError) else "failed"
            append_line(Path(spec.errors_dir) / f"rank{rank}.jsonl",
                        {"rank": rank, "case": case.id, "status": kind, "error": first_line(error),
                         "time": time.time()})
            os._exit(1)  # leave the collectives; torchrun ends the other ranks
        gathered: list[Any] = [None] * world_size
        dist.all_gather_object(gathered, result.as_dict())
        if rank == 0:
            append_line(Path(spec.results_file), {"case": case.id, "ranks": gathered, "backend": backend,
                                                  "world_size": world_size})
    if spec.allreduce:
        rows = measure_allreduce(device, world_size)
        if rank == 0:
            append_line(Path(spec.results_file), {"allreduce": rows, "backend": backend, "world_size": world_size})
    dist.barrier()
    dist.destroy_process_group()


# ------------------------------------------------------------------ front end


@dataclasses.dataclass(frozen=True)
class Launch:
    nproc_per_node: int
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None

    def torchrun_args(self) -> list[str]:
        args = [f"--nproc-per-node={self.nproc_per_node}", f"--nnodes={self.nnodes}",
                f"--node-rank={self.node_rank}", "--max-restarts=0"]
        if self.rdzv_endpoint:
            return args + ["--rdzv-backend=c10d", f"--rdzv-endpoint={self.rdzv_endpoint}"]
        return args + ["--standalone"]


def check_launch(launch: Launch) -> list[str]:
    errors = []
    if launch.nproc_per_node < 1:
        errors.append(f"--nproc-per-node must be >= 1, got {launch.nproc_per_node}")
    if launch.nnodes < 1:
        errors.append(f"--nnodes must be >= 1, got {launch.nnodes}")
    if not 0 <= launch.node_rank < max(launch.nnodes, 1):
        errors.append(f"--node-rank must be in 0..{launch.nnodes - 1}, got {launch.node_rank}")
    if launch.nnodes > 1 and not launch.rdzv_endpoint:
        errors.append("--nnodes > 1 needs --rdzv-endpoint HOST:PORT")
    if launch.rdzv_endpoint and not re.fullmatch(r"[\w.\-\[\]:]+:\d+", launch.rdzv_endpoint):
        errors.append(f"--rdzv-endpoint expects HOST:PORT, got {launch.rdzv_endpoint!r}")
    return errors


@dataclasses.dataclass
class DistributedOutcome:
    lines: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    returncode: int | None  # None: killed at the overall timeout
    log_tail: str
    seconds: float


def launch(spec: LaunchSpec, run: Launch, work_dir: Path, timeout_s: float) -> DistributedOutcome:
    """Run torchrun with the rank program; bounded by ``timeout_s`` whatever the ranks do."""
    spec_path = work_dir / "spec.json"
    spec_path.write_text(json.dumps(dataclasses.asdict(spec)))
    log_path = work_dir / "torchrun.log"
    command = [sys.executable, "-m", "torch.distributed.run", *run.torchrun_args(), "-m", "bench.distributed",
               str(spec_path)]
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            returncode: int | None = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            returncode = None
    lines = _read_lines(Path(spec.results_file))
    # earliest first: the first rank to fail is the cause; the others mostly lost their peer
    errors = sorted((e for path in Path(spec.errors_dir).glob("rank*.jsonl") for e in _read_lines(path)),
                    key=lambda e: e.get("time", 0.0))
    tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
    return DistributedOutcome(lines, errors, returncode, tail, time.perf_counter() - start)


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def root_cause(log_tail: str) -> str:
    """torchrun's 'first observed failure' lines: which rank, which exit code."""
    rank = re.search(r"rank\s*:\s*(\d+)", log_tail)
    code = re.search(r"exitcode\s*:\s*(-?\d+)", log_tail)
    if not rank:
        return "torchrun failed (see its log)"
    text = f"rank {rank.group(1)} exited with code {code.group(1) if code else '?'}"
    if code and int(code.group(1)) < 0:
        try:
            text += f" ({signal.Signals(-int(code.group(1))).name})"
        except ValueError:
            pass
    return text


def distributed_results(cases: list[Case], outcome: DistributedOutcome, single: dict[str, float],
                        timeout_s: float) -> list[CaseResult]:
    """One CaseResult per case from rank 0's lines, with per-rank and global figures."""
    from bench.storage import derived_metrics

    finished = {line["case"]: line for line in outcome.lines if "case" in line}
    results = []
    for case in cases:
        line = finished.get(case.id)
        if line is None:
            results.append(_unfinished(case, outcome, timeout_s))
            continue
        ranks = [_record(r) for r in line["ranks"]]
        per_rank = [derived_metrics(r, {}, TimingRules()).get("samples_per_s") for r in ranks]
        total = sum(per_rank)
        reference = single.get(case.id)
        lead = ranks[0]
        lead.distributed = {
            "world_size": line["world_size"], "backend": line["backend"],
            "per_rank_samples_per_s": per_rank, "global_samples_per_s": total,
            "single_process_samples_per_s": reference,
            "scaling_efficiency": total / (line["world_size"] * reference) if reference else None,
        }
        results.append(lead)
    return results


def _record(data: dict[str, Any]) -> CaseResult:
    fields = {k: v for k, v in data.items() if k != "case"}
    return CaseResult(Case(**data["case"]), **fields)


def _unfinished(case: Case, outcome: DistributedOutcome, timeout_s: float) -> CaseResult:
    failure = next((e for e in outcome.errors if e["case"] == case.id), None)
    if failure:
        return CaseResult(case, failure["status"], f"rank {failure['rank']} failed: {failure['error']}")
    if outcome.returncode is None:
        return CaseResult(case, "timeout", f"the distributed run passed its {timeout_s:g} s limit and was killed")
    if outcome.errors:
        first = outcome.errors[0]
        return CaseResult(case, "failed", f"not run: rank {first['rank']} failed earlier, in {first['case']}")
    if outcome.returncode != 0:
        return CaseResult(case, "crashed", root_cause(outcome.log_tail))
    return CaseResult(case, "failed", "no result from rank 0")


def allreduce_rows(outcome: DistributedOutcome) -> list[dict[str, Any]]:
    return next((line["allreduce"] for line in outcome.lines if "allreduce" in line), [])


if __name__ == "__main__":
    rank_main(sys.argv[1])
