"""Hardware micro-benchmarks, the torch side: one step of each, and one run of a micro case under the same
protocol as a model case (warm up until steady, K steps per round, R timed rounds with the machine's noise;
docs/measurement.md, rules 1-3 and 11), then what the run measures beside its rounds (a host<->device curve
and the PCIe link, a peer matrix, an all-reduce sweep, the corruption check). PyTorch only: no CUDA C.

Bytes are counted as STREAM and nccl-tests count them (bench/results/micro.py), so that a step's items/s is
the bandwidth. A step never synchronises with the host (rule 6): the corruption check keeps its counters on
the device and reads them once, after the load.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable

import torch

from bench import config
from bench.config import TimingRules
from bench.measure.caches import last_level_cache_bytes
from bench.measure.protocol import NoiseMonitor, peak_memory, prepare
from bench.measure.timing import Agree, DeviceClock, alone, measure_rounds, time_round
from bench.results.cases import Case
from bench.results.micro import (
    FLOAT64_BYTES,
    MIB,
    CorruptionCheck,
    CurvePoint,
    MicroDetail,
    PcieLink,
    PeerCopy,
    allreduce_bus_bytes,
    stream_bytes,
    transfer_sizes,
)
from bench.results.records import RunRecord, Status, Workload
from envcheck.capabilities import tf32
from envcheck.checks.numerics import RELATIVE_ERROR_BOUNDS

BITFLIP = "bitflip:"  # TORCHRIG_FAULT='micro-sdc-matmul-*=bitflip:N': flip a bit of iteration N's result (tests)
Sweep = Callable[[str, int], list[dict[str, float]]]  # (device, world size) -> all-reduce rows (measure/rank.py)
CURVE_MIN_S = 0.02  # each size of a curve: repetitions lasting at least this, timed five times
CURVE_SAMPLES = 5
TRIAD_SCALAR = 3.0


def synchronizer(devices: list[torch.device]):
    """Synchronise every CUDA device the step uses (torch.cuda.synchronize waits for the current one only)."""
    cuda = [d for d in devices if d.type == "cuda"]
    if not cuda:
        return None

    def synchronize() -> None:
        for device in cuda:
            torch.cuda.synchronize(device)

    return synchronize


class MicroStep:
    """Callable: one step of a micro-benchmark. Has what the protocol asks of a step (workload, count_flops,
    loss_value, close) and what a micro run adds (its clock, combining ranks' rounds, its detail)."""

    def __init__(self, case: Case, device: str) -> None:
        self.case = case
        self.spec = case.micro
        self.device = torch.device(device)
        self.notes: list[str] = []

    @property
    def devices(self) -> list[torch.device]:
        return [self.device]

    def clock(self) -> DeviceClock:
        return DeviceClock(synchronizer(self.devices))

    def items_per_step(self) -> int:
        raise NotImplementedError

    def workload(self) -> Workload:
        return Workload(items_per_step=self.items_per_step(), unit=self.spec.unit, notes=list(self.notes))

    def count_flops(self) -> int | None:
        return None

    def loss_value(self) -> float | None:
        return None

    def combine(self, round_s: list[float]) -> list[float]:
        """The rounds that count (all-reduce: the slowest rank's)."""
        return round_s

    def detail(self, clock: DeviceClock, started: float) -> MicroDetail:
        return MicroDetail(notes=list(self.notes))

    def close(self) -> None:
        pass

    def __call__(self) -> None:
        raise NotImplementedError


def cache_bytes(device: torch.device) -> int | None:
    """The cache a STREAM buffer must exceed: the GPU's L2 (the CPU's last level is the parent's, from sysfs)."""
    if device.type == "cuda":
        return getattr(torch.cuda.get_device_properties(device), "L2_cache_size", None)
    return last_level_cache_bytes()


class StreamStep(MicroStep):
    """STREAM copy (c = a) or triad (a = b + s*c) over float64 buffers of ``size`` MiB each."""

    def __init__(self, case: Case, device: str) -> None:
        super().__init__(case, device)
        self.kernel = case.model.removeprefix("mem-")
        self.elements = case.batch_size * MIB // FLOAT64_BYTES
        count = 2 if self.kernel == "copy" else 3
        # filled, not just allocated: a page's first touch must not land in the timed rounds
        self.arrays = [torch.full((self.elements,), float(i + 1), dtype=torch.float64, device=self.device)
                       for i in range(count)]
        cache = cache_bytes(self.device)
        self.cache = cache
        if cache and case.batch_size * MIB < config.MICRO_CACHE_MULTIPLE * cache:
            self.notes.append(f"buffer {case.batch_size} MiB is under {config.MICRO_CACHE_MULTIPLE}x the "
                              f"{cache / MIB:.0f} MiB cache: partly a cache bandwidth")

    def items_per_step(self) -> int:
        return stream_bytes(self.kernel, self.elements)

    def __call__(self) -> None:
        if self.kernel == "copy":
            a, c = self.arrays
            c.copy_(a)
        else:
            a, b, c = self.arrays
            torch.add(b, c, alpha=TRIAD_SCALAR, out=a)

    def detail(self, clock: DeviceClock, started: float) -> MicroDetail:
        return MicroDetail(buffer_bytes=self.elements * FLOAT64_BYTES, cache_bytes=self.cache, notes=list(self.notes))

    def close(self) -> None:
        self.arrays = []


def pcie_link(index: int) -> PcieLink | None:
    """The GPU's current and maximum PCIe generation and width from NVML; None without NVML."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no NVML: the link is unknown, the bandwidth still measured
        return None
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)

        def read(call):
            try:
                return int(call(handle))
            except Exception:  # noqa: BLE001 - a query this GPU or driver does not answer
                return None

        return PcieLink(read(pynvml.nvmlDeviceGetCurrPcieLinkGeneration), read(pynvml.nvmlDeviceGetCurrPcieLinkWidth),
                        read(pynvml.nvmlDeviceGetMaxPcieLinkGeneration), read(pynvml.nvmlDeviceGetMaxPcieLinkWidth))
    finally:
        pynvml.nvmlShutdown()


def nvml_index(device: torch.device) -> int:
    """NVML's index of a torch CUDA device (CUDA_VISIBLE_DEVICES renumbers torch's, not NVML's)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    index = device.index or 0
    if visible:
        listed = [item.strip() for item in visible.split(",")]
        if index < len(listed) and listed[index].isdigit():
            return int(listed[index])
    return index


def curve_point(copy, size: int, clock: DeviceClock) -> CurvePoint:
    """Median seconds of one transfer of ``size`` bytes, from CURVE_SAMPLES timings of enough repetitions."""
    copy(size)
    once = time_round(lambda: copy(size), 1, clock)
    reps = max(1, math.ceil(CURVE_MIN_S / max(once, 1e-9)))
    seconds = statistics.median(time_round(lambda: copy(size), reps, clock) / reps for _ in range(CURVE_SAMPLES))
    return CurvePoint(size, seconds, size / seconds / 1e9)


class TransferStep(MicroStep):
    """Host<->device copies (h2d/d2h, pinned/pageable) of ``size`` MiB; the curve from 1 MiB; the PCIe link."""

    def __init__(self, case: Case, device: str) -> None:
        super().__init__(case, device)
        direction, memory = case.model.split("-")
        self.to_device, self.pinned = direction == "h2d", memory == "pinned"
        self.bytes = case.batch_size * MIB
        self.host = torch.zeros(self.bytes, dtype=torch.uint8, pin_memory=self.pinned)
        self.gpu = torch.zeros(self.bytes, dtype=torch.uint8, device=self.device)

    def items_per_step(self) -> int:
        return self.bytes

    def copy(self, size: int) -> None:
        host, gpu = self.host[:size], self.gpu[:size]
        if self.to_device:
            gpu.copy_(host, non_blocking=self.pinned)
        else:
            host.copy_(gpu, non_blocking=self.pinned)

    def __call__(self) -> None:
        self.copy(self.bytes)

    def detail(self, clock: DeviceClock, started: float) -> MicroDetail:
        curve = [curve_point(self.copy, size, clock) for size in transfer_sizes(self.case.batch_size)]
        link = pcie_link(nvml_index(self.device))  # read after the copies: an idle link trains down
        notes = list(self.notes)
        if link is not None and link.degraded:
            notes.append(f"the link runs below its maximum: {link.describe()}")
        return MicroDetail(buffer_bytes=self.bytes, curve=curve, link=link, notes=notes)

    def close(self) -> None:
        self.host = self.gpu = None


class LaunchStep(MicroStep):
    """One tiny op (a one-element add_): on CUDA the cost of launching a kernel back to back, on a CPU the
    op's dispatch overhead."""

    def __init__(self, case: Case, device: str) -> None:
        super().__init__(case, device)
        self.value = torch.zeros(1, device=self.device)

    def items_per_step(self) -> int:
        return 1

    def __call__(self) -> None:
        self.value.add_(1)


class PeerStep(MicroStep):
    """Device to device copies of ``size`` MiB over every ordered pair of GPUs; the matrix beside."""

    def __init__(self, case: Case, device: str) -> None:
        super().__init__(case, device)
        self.bytes = case.batch_size * MIB
        self.gpus = [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
        if len(self.gpus) < 2:
            raise RuntimeError(f"peer-copy needs 2 GPUs or more; {len(self.gpus)} visible")
        self.sources = [torch.ones(self.bytes, dtype=torch.uint8, device=d) for d in self.gpus]
        self.targets = [torch.zeros(self.bytes, dtype=torch.uint8, device=d) for d in self.gpus]
        self.pairs = [(i, j) for i in range(len(self.gpus)) for j in range(len(self.gpus)) if i != j]

    @property
    def devices(self) -> list[torch.device]:
        return self.gpus

    def items_per_step(self) -> int:
        return self.bytes * len(self.pairs)

    def copy(self, source: int, target: int) -> None:
        self.targets[target].copy_(self.sources[source], non_blocking=True)

    def __call__(self) -> None:
        for source, target in self.pairs:
            self.copy(source, target)

    def detail(self, clock: DeviceClock, started: float) -> MicroDetail:
        peers = []
        for source, target in self.pairs:
            point = curve_point(lambda size, s=source, t=target: self.copy(s, t), self.bytes, clock)
            peers.append(PeerCopy(source, target, point.gbps, torch.cuda.can_device_access_peer(source, target)))
        return MicroDetail(buffer_bytes=self.bytes, peers=peers, notes=list(self.notes))

    def close(self) -> None:
        self.sources = self.targets = []


class AllReduceStep(MicroStep):
    """One all-reduce of a ``size`` MiB float32 message over the process group (a rank's part); its bytes are
    the bus bytes, so that bytes/s is busbw. The sweep over message sizes is measure/rank.py's."""

    def __init__(self, case: Case, device: str, sweep: Sweep | None = None) -> None:
        super().__init__(case, device)
        import torch.distributed as dist

        self.sweep = sweep

        if not dist.is_initialized():
            raise RuntimeError("the all-reduce micro-benchmark runs in torchrun's ranks (bench/measure/rank.py)")
        self.dist = dist
        self.world_size = dist.get_world_size()
        self.bytes = case.batch_size * MIB
        self.message = torch.ones(self.bytes // 4, dtype=torch.float32, device=self.device)

    def items_per_step(self) -> int:
        return allreduce_bus_bytes(self.bytes, self.world_size)

    def __call__(self) -> None:
        self.dist.all_reduce(self.message)

    def combine(self, round_s: list[float]) -> list[float]:
        """Each round's slowest rank, as nccl-tests reports the slowest rank's time."""
        rounds = torch.tensor(round_s, dtype=torch.float64, device=self.device)
        self.dist.all_reduce(rounds, op=self.dist.ReduceOp.MAX)
        return [float(value) for value in rounds.cpu()]

    def detail(self, clock: DeviceClock, started: float) -> MicroDetail:
        rows = self.sweep(str(self.device), self.world_size) if self.sweep else []
        curve = [CurvePoint(int(row["bytes"]), row["time_s"], row["busbw_gbps"]) for row in rows]
        return MicroDetail(buffer_bytes=self.bytes, curve=curve, notes=list(self.notes))

    def close(self) -> None:
        self.message = None


class CorruptionStep(MicroStep):
    """The same fp32 matmul (fixed seed, TF32 off) on every GPU, or the CPU, again and again; each result compared
    bitwise on its device with the first, the first checked against float64 on the CPU. The load lasts the case's
    size in seconds (warm-up and timed rounds included); the counters stay on the device until then."""

    def __init__(self, case: Case, device: str, flip_at: int | None = None) -> None:
        """``flip_at``: the test-only fault, a bit of that iteration's result flipped (TORCHRIG_FAULT bitflip:N)."""
        super().__init__(case, device)
        kind = self.device.type
        self.n = config.MICRO_SDC_MATMUL_N[kind]
        self.gpus = ([torch.device("cuda", i) for i in range(torch.cuda.device_count())] if kind == "cuda"
                     else [self.device])
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(self.n, self.n, generator=generator)
        b = torch.randn(self.n, self.n, generator=generator)
        self.inputs = a, b
        self.flip_at = flip_at
        self.count = 0  # iterations after the first, on the host: no read of a device counter
        self.state = []
        with tf32(False):
            for device in self.gpus:
                left, right = a.to(device), b.to(device)
                first = left @ right
                self.state.append({"a": left, "b": right, "first": first, "out": torch.empty_like(first),
                                   "bad": torch.zeros((), dtype=torch.int64, device=device),
                                   "at": torch.full((), -1, dtype=torch.int64, device=device),
                                   "iteration": torch.zeros((), dtype=torch.int64, device=device)})

    @property
    def devices(self) -> list[torch.device]:
        return self.gpus

    def items_per_step(self) -> int:
        return len(self.gpus)

    def count_flops(self) -> int:
        return 2 * self.n**3 * len(self.gpus)

    def __call__(self) -> None:
        self.count += 1
        with tf32(False):
            for number, state in enumerate(self.state):
                out = state["out"]
                torch.mm(state["a"], state["b"], out=out)
                if number == 0 and self.count == self.flip_at:  # the test-only fault: one bit of one element
                    out.view(torch.int32).view(-1)[0].bitwise_xor_(1 << 3)
                state["iteration"] += 1
                differs = (out.view(torch.int32) != state["first"].view(torch.int32)).any()
                state["bad"] += differs
                state["at"] = torch.where(differs & (state["at"] < 0), state["iteration"], state["at"])

    @staticmethod
    def reference_error(first: torch.Tensor, want: torch.Tensor) -> float:
        """Norm-wise relative error of a first result's leading rows against their float64 product on the CPU
        (as envcheck's numerics check computes it)."""
        return float((first[: want.shape[0]].double().cpu() - want).norm() / want.norm())

    def checks(self, seconds: float) -> list[CorruptionCheck]:
        """Each device's counters, read once (a host synchronisation, after the load)."""
        rows = min(config.MICRO_SDC_REFERENCE_ROWS, self.n)
        a, b = self.inputs
        want = a[:rows].double() @ b.double()  # once: every device computed the same product
        found = []
        for device, state in zip(self.gpus, self.state, strict=True):
            at = int(state["at"].item())
            found.append(CorruptionCheck("cpu" if device.type == "cpu" else str(device), self.n,
                                         int(state["iteration"].item()) + 1, round(seconds, 3),
                                         int(state["bad"].item()), at if at >= 0 else None,
                                         self.reference_error(state["first"], want), RELATIVE_ERROR_BOUNDS["fp32"],
                                         rows))
        return found

    def detail(self, clock: DeviceClock, started: float) -> MicroDetail:
        """Go on loading the devices until the case's seconds have passed since the run started, then check."""
        while time.perf_counter() - started < self.case.batch_size:
            time_round(self, 1, clock)
        clock.now()
        return MicroDetail(corruption=self.checks(time.perf_counter() - started), notes=list(self.notes))

    def close(self) -> None:
        self.state = []


def bitflip_iteration(fault: str | None) -> int | None:
    """The iteration a test asked to corrupt (TORCHRIG_FAULT 'KEY-PATTERN=bitflip:N'), or None."""
    if fault and fault.startswith(BITFLIP) and fault.removeprefix(BITFLIP).isdigit():
        return int(fault.removeprefix(BITFLIP))
    return None


STEPS = {"mem-copy": StreamStep, "mem-triad": StreamStep, "h2d-pinned": TransferStep, "h2d-pageable": TransferStep,
         "d2h-pinned": TransferStep, "d2h-pageable": TransferStep, "launch": LaunchStep, "peer-copy": PeerStep,
         "allreduce": AllReduceStep, "sdc-matmul": CorruptionStep}


def build_micro_step(case: Case, device: str | None = None, fault: str | None = None,
                     sweep: Sweep | None = None) -> MicroStep:
    """The case's step on ``device``; ``fault``: the test's TORCHRIG_FAULT for it; ``sweep``: the all-reduce
    sweep a rank runs after its rounds (bench/measure/rank.py's, passed in: rank imports this module)."""
    device = device or case.device
    if case.model == "sdc-matmul":
        return CorruptionStep(case, device, bitflip_iteration(fault))
    if case.model == "allreduce":
        return AllReduceStep(case, device, sweep)
    return STEPS[case.model](case, device)


def run_micro_case(case: Case, rules: TimingRules, index: int = 0, *, device: str | None = None,
                   agree: Agree = alone, own_pid: int | None = None, fault: str | None = None,
                   sweep: Sweep | None = None) -> RunRecord:
    """One run of a micro case in this process (a worker, or a rank on ``device``): prepared and timed as a model
    case is, then its detail; broken (failed) when the corruption check finds a mismatch."""
    started = time.perf_counter()
    if case.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step = build_micro_step(case, device, fault, sweep)
    try:
        clock = step.clock()
        prepared = prepare(step, rules, index, "unknown", clock, agree)
        monitor = NoiseMonitor(case.device, own_pid)
        monitor.start()
        round_s = step.combine(measure_rounds(step, clock, rules, prepared.steps))
        noise = monitor.stop()
        detail = step.detail(clock, started)
    finally:
        step.close()
    peak, memory_kind = peak_memory(case.device)
    failure = detail.failure
    return RunRecord(index, Status.FAILED if failure else Status.OK, failure,
                     duration_s=round(time.perf_counter() - started, 4), steps_per_round=prepared.steps,
                     round_s=round_s, warmup=prepared.warmup, threads=prepared.threads, workload=prepared.workload,
                     peak_memory_bytes=peak, memory_kind=memory_kind, noise=noise, micro=detail)

