"""Hardware micro-benchmarks as cases: the catalogue (what each measures, in which unit, how its bytes are
counted), the per-run detail records (a host-device curve, the PCIe link, a peer matrix, the corruption
check) and the figure each case reports. No torch: the CLI plans with it.

A micro-benchmark is a Case whose mode is ``micro`` and whose model is a benchmark's name; its "batch size" is
its size (MiB of one buffer, or seconds of load). It runs under the same protocol as a model case (fresh
processes, warm-up until steady, K steps per round, several runs, noise) through the same plan and executor,
so that compare, validate and the results database take it as it is. A step's items are what it moves or
does (bytes, launches, floating-point operations), so that items/s is a rate where higher is better; the
figure a person reads (GB/s, us, TFLOP/s) is derived from it here.
"""

from __future__ import annotations

import dataclasses

MICRO_MODE = "micro"
GB = 1e9  # STREAM and nccl-tests report decimal GB/s
MIB = 2**20
FLOAT64_BYTES = 8


def stream_bytes(kernel: str, elements: int, element_bytes: int = FLOAT64_BYTES) -> int:
    """Bytes STREAM counts for one pass of ``kernel`` over arrays of ``elements``: copy (c = a) reads one and
    writes one array, 2 x 8 B per element in float64; triad (a = b + s*c) reads two and writes one, 3 x."""
    arrays = {"copy": 2, "triad": 3}[kernel]
    return arrays * element_bytes * elements


def bus_factor(world_size: int) -> float:
    """nccl-tests' all-reduce bus bandwidth factor: busbw = algbw x 2(n-1)/n (0 for a single rank)."""
    if world_size < 1:
        raise ValueError(f"world size must be >= 1, got {world_size}")
    return 2 * (world_size - 1) / world_size


def allreduce_bus_bytes(message_bytes: int, world_size: int) -> int:
    """Bytes one all-reduce of ``message_bytes`` counts at the bus level (so that bytes/s is busbw)."""
    return round(message_bytes * bus_factor(world_size))


def transfer_sizes(largest_mib: int) -> list[int]:
    """The host<->device curve's sizes in bytes: 1 MiB, 2 MiB, ... up to ``largest_mib`` MiB."""
    sizes, mib = [], 1
    while mib <= largest_mib:
        sizes.append(mib * MIB)
        mib *= 2
    return sizes


@dataclasses.dataclass(frozen=True)
class MicroSpec:
    """One micro-benchmark: what a step does and how its result reads."""

    name: str
    description: str
    unit: str  # what a step's items count: bytes, launches or flop
    figure_unit: str  # GB/s, us or TFLOP/s
    size_unit: str | None  # what the case's size means: MiB (of one buffer or message), s (of load), None
    devices: tuple[str, ...] = ("cpu", "cuda")
    min_gpus: int = 0  # peer copy: two GPUs at least
    distributed: bool = False  # one process per rank under torchrun (all-reduce)
    limit: str | None = None  # the datasheet figure it is judged against (datasheets.Sku field)

    @property
    def sized(self) -> bool:
        return self.size_unit is not None

    def figure(self, items_per_s: float | None, tflops: float | None = None) -> float | None:
        """The figure a person reads, from a case's items per second (and achieved TFLOP/s); None unmeasured."""
        if self.figure_unit == "TFLOP/s":
            return tflops
        if not items_per_s:
            return None
        if self.figure_unit == "GB/s":
            return items_per_s / GB
        if self.figure_unit == "us":
            return 1e6 / items_per_s  # one launch a step: microseconds per launch
        raise ValueError(f"unknown figure unit {self.figure_unit!r}")

    @property
    def higher_is_better(self) -> bool:
        return self.figure_unit != "us"


CATALOGUE: dict[str, MicroSpec] = {spec.name: spec for spec in (
    MicroSpec("mem-copy", "STREAM copy c = a over float64 buffers far larger than the last-level cache (CPU) or "
              "L2 (GPU); 2 x 8 B per element", "bytes", "GB/s", "MiB", limit="memory_gbps"),
    MicroSpec("mem-triad", "STREAM triad a = b + s*c over float64 buffers far larger than the last-level cache or "
              "L2; 3 x 8 B per element", "bytes", "GB/s", "MiB", limit="memory_gbps"),
    MicroSpec("h2d-pinned", "host to device copy from pinned memory, non-blocking; curve from 1 MiB", "bytes", "GB/s",
              "MiB", devices=("cuda",), limit="pcie_gbps"),
    MicroSpec("h2d-pageable", "host to device copy from pageable memory; curve from 1 MiB", "bytes", "GB/s", "MiB",
              devices=("cuda",), limit="pcie_gbps"),
    MicroSpec("d2h-pinned", "device to host copy into pinned memory, non-blocking; curve from 1 MiB", "bytes", "GB/s",
              "MiB", devices=("cuda",), limit="pcie_gbps"),
    MicroSpec("d2h-pageable", "device to host copy into pageable memory; curve from 1 MiB", "bytes", "GB/s", "MiB",
              devices=("cuda",), limit="pcie_gbps"),
    MicroSpec("launch", "launch cost of a tiny op (one-element add_): a kernel launch on CUDA, the op's dispatch "
              "overhead on a CPU", "launches", "us", None),
    MicroSpec("peer-copy", "device to device copy over every ordered pair of GPUs (NVLink or PCIe), with the "
              "matrix", "bytes", "GB/s", "MiB", devices=("cuda",), min_gpus=2, limit="nvlink_gbps"),
    MicroSpec("allreduce", "all-reduce bus bandwidth as nccl-tests defines it, busbw = algbw x 2(n-1)/n, with a "
              "sweep over message sizes (NCCL on CUDA, gloo on CPU ranks)", "bytes", "GB/s", "MiB",
              distributed=True, limit="nvlink_gbps"),
    MicroSpec("sdc-matmul", "repeated fp32 matmuls with a fixed seed on every GPU (or the CPU), each compared bitwise "
              "with the first on its device, the first against a float64 CPU reference (silent data corruption)",
              "matmuls", "TFLOP/s", "s", limit="fp32_tflops"),
)}


def is_micro(name: str) -> bool:
    return name in CATALOGUE


def get_micro(name: str) -> MicroSpec:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValueError(f"unknown micro-benchmark {name!r}; expected one of {', '.join(CATALOGUE)}") from None


def parse_micro(text: str) -> tuple[str, int | None]:
    """'mem-copy' -> ('mem-copy', None); 'mem-copy:64' -> ('mem-copy', 64). ValueError naming what is expected."""
    name, sep, size = text.partition(":")
    spec = get_micro(name.strip())
    if not sep:
        return spec.name, None
    if not spec.sized:
        raise ValueError(f"micro-benchmark {spec.name} takes no size, got {text!r}")
    try:
        value = int(size)
    except ValueError:
        raise ValueError(f"{text!r}: expected {spec.name}:N with N a whole number of {spec.size_unit}") from None
    if not 1 <= value <= MAX_MICRO_SIZE:
        raise ValueError(f"{text!r}: the size must be in 1..{MAX_MICRO_SIZE} {spec.size_unit}")
    return spec.name, value


MAX_MICRO_SIZE = 2**20  # MiB (1 TiB) or seconds (12 days): beyond it, a typo


def size_label(spec: MicroSpec, size: int) -> str:
    return f"{size}{spec.size_unit}" if spec.sized else ""


# ---------------------------------------------------------------- what a run records beside its rounds


@dataclasses.dataclass(frozen=True)
class CurvePoint:
    """One size of a sweep: a host<->device copy, or an all-reduce message."""

    size_bytes: int
    seconds: float  # one transfer, the median of its repetitions
    gbps: float  # decimal GB/s (bus bandwidth for an all-reduce)


@dataclasses.dataclass(frozen=True)
class PcieLink:
    """The GPU's PCIe link from NVML, read right after the copies (an idle link may train down to save power)."""

    generation: int | None
    width: int | None
    max_generation: int | None
    max_width: int | None

    @property
    def degraded(self) -> bool:
        """Running below what the GPU supports (a Gen5 x16 card at Gen3 or x8)."""
        return bool((self.generation and self.max_generation and self.generation < self.max_generation)
                    or (self.width and self.max_width and self.width < self.max_width))

    def describe(self) -> str:
        return (f"PCIe Gen{self.generation or '?'} x{self.width or '?'} "
                f"(max Gen{self.max_generation or '?'} x{self.max_width or '?'})")


@dataclasses.dataclass(frozen=True)
class PeerCopy:
    source: int
    target: int
    gbps: float
    peer_access: bool  # torch.cuda.can_device_access_peer: a direct path (NVLink or PCIe P2P)


@dataclasses.dataclass(frozen=True)
class CorruptionCheck:
    """Repeated matmuls on one device: each compared bitwise with the first, the first against float64."""

    device: str  # cpu or cuda:N
    size: int  # n of the n x n x n matmul
    iterations: int
    seconds: float
    mismatches: int  # iterations whose result differed bitwise from the first
    first_mismatch: int | None  # the 0-based iteration of the first of them
    reference_error: float  # norm-wise relative error of the first result's checked rows against float64
    reference_bound: float  # envcheck's bound for fp32 (envcheck/checks/numerics.py)
    reference_rows: int  # rows of the result checked against the float64 CPU reference

    @property
    def failure(self) -> str | None:
        """Why the device is broken, or None."""
        if self.mismatches:
            return (f"silent data corruption on {self.device}: iteration {self.first_mismatch} differs bitwise from "
                    f"iteration 0 ({self.mismatches} of {self.iterations} iterations differ); the same matmul on the "
                    "same inputs must give the same bits: check this GPU's health (nvidia-smi -q -d ECC, dcgmi diag "
                    "-r 3)")
        if not self.reference_error <= self.reference_bound:
            return (f"wrong results on {self.device}: the matmul is {self.reference_error:.2e} off the float64 CPU "
                    f"reference (bound {self.reference_bound:.0e}); check the driver, cuBLAS and this GPU's health")
        return None


@dataclasses.dataclass(frozen=True)
class MicroDetail:
    """What a micro run measured beside its timed rounds."""

    buffer_bytes: int | None = None  # one buffer (or message) of the timed step
    cache_bytes: int | None = None  # the cache it must exceed: last-level (CPU) or L2 (GPU)
    curve: list[CurvePoint] = dataclasses.field(default_factory=list)
    link: PcieLink | None = None
    peers: list[PeerCopy] = dataclasses.field(default_factory=list)
    corruption: list[CorruptionCheck] = dataclasses.field(default_factory=list)  # one per device checked
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def failure(self) -> str | None:
        """The first device's corruption finding, or None."""
        return next((check.failure for check in self.corruption if check.failure), None)

    @property
    def plateau_gbps(self) -> float | None:
        """A curve's plateau: the median of its largest three sizes' rates."""
        if not self.curve:
            return None
        top = sorted(point.gbps for point in sorted(self.curve, key=lambda p: p.size_bytes)[-3:])
        return top[len(top) // 2]
