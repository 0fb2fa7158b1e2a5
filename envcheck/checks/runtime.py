"""Runtime: DataLoader worker processes and shared memory, torch.distributed, and a quiet machine."""

from __future__ import annotations

import socket
from datetime import timedelta

from envcheck.checks.registry import CheckContext, register
from envcheck.load import sample_cpu_load
from envcheck.records import CheckResult, failed, first_line, passed, warned

MIN_SHM_BYTES = 256 * 2**20
LOAD_SAMPLE_S = 0.5
SHM_FIX = ("give the container more shared memory: docker run --shm-size=8g (or --ipc=host); "
           "on Kubernetes mount an emptyDir with medium: Memory at /dev/shm")


@register("dataloader")
def check_dataloader(ctx: CheckContext) -> list[CheckResult]:
    name = "dataloader workers"
    free = ctx.probes.shm_free_bytes()
    if free is not None and free < MIN_SHM_BYTES:
        return [failed(name, f"/dev/shm has only {free / 2**20:.0f} MiB free "
                       f"(DataLoader workers need >= {MIN_SHM_BYTES // 2**20} MiB)", SHM_FIX)]
    torch = ctx.torch
    data = torch.utils.data
    dataset = data.TensorDataset(torch.arange(512, dtype=torch.float32).reshape(128, 4))
    try:
        loader = data.DataLoader(dataset, batch_size=16, num_workers=2, timeout=60)
        total = sum(batch.sum().item() for (batch,) in loader)
    except Exception as error:  # noqa: BLE001 - worker crashes (bus error) are the finding
        return [failed(name, f"DataLoader with 2 workers failed: {first_line(error)}", SHM_FIX)]
    if total != 511 * 512 / 2:
        return [failed(name, f"workers returned wrong data (sum {total})",
                       "DataLoader workers corrupt data: check shared memory and torch install")]
    shm = f"; /dev/shm {free / 2**30:.1f} GiB free" if free is not None else ""
    return [passed(name, f"2 worker processes delivered every batch{shm}")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@register("distributed")
def check_distributed(ctx: CheckContext) -> list[CheckResult]:
    torch = ctx.torch
    dist = torch.distributed
    if not dist.is_available():
        return [failed("distributed gloo", "torch.distributed is not available in this build",
                       "install an official torch wheel (distributed is built in on Linux)")]
    results = []
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}",
                                rank=0, world_size=1, timeout=timedelta(seconds=30))
        tensor = torch.ones(4)
        dist.all_reduce(tensor)
        ok = tensor.tolist() == [1.0] * 4
        dist.destroy_process_group()
    except Exception as error:  # noqa: BLE001
        results.append(failed("distributed gloo", f"gloo group failed: {first_line(error)}",
                              "check that 127.0.0.1 is reachable and no firewall blocks loopback"))
    else:
        results.append(passed("distributed gloo", "one-process gloo group on 127.0.0.1: all_reduce ok")
                       if ok else failed("distributed gloo", f"all_reduce returned {tensor.tolist()}",
                                         "gloo is broken in this build: reinstall torch"))
    if ctx.facts.torch.cuda_available:
        if dist.is_nccl_available():
            results.append(passed("distributed nccl", f"NCCL {ctx.facts.torch.nccl_version} available"))
        else:
            results.append(warned("distributed nccl", "NCCL backend not available",
                                  "multi-GPU runs need NCCL: install an official CUDA torch wheel"))
    return results


@register("machine load", needs_torch=False)
def check_machine_load(ctx: CheckContext) -> list[CheckResult]:
    """Other processes using the CPU right now would make any benchmark noisy."""
    load = sample_cpu_load(LOAD_SAMPLE_S, ctx.probes.psutil(), ctx.probes.sleep)
    detail = (f"over {load.seconds:.1f} s other processes used {load.other_cpu_cores:.2f} of "
              f"{load.capacity_cores} CPU cores, steal {load.steal_cores:.2f}; load average {load.load_1m or 0:.2f}")
    busy = load.busy_reasons()
    if busy:
        return [warned("machine load", f"busy: {'; '.join(busy)} ({detail})",
                       "stop other jobs before benchmarking (`top` shows them); bench flags runs measured "
                       "on a busy machine as noisy")]
    return [passed("machine load", f"quiet: {detail}")]
