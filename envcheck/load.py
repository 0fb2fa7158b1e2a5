"""What else is using the machine while something is measured (docs/measurement.md, rule 11).

A measurement taken while other processes used the CPU, the hypervisor stole time or
the GPU was throttled or shared is *noisy*: it says nothing about the software. The
readings come from psutil and NVML, both injectable so tests can fake a busy machine.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from types import ModuleType

# Thresholds relative to the capacity of the CPUs the measured process may run on (os.sched_getaffinity),
# so that a 2-core VM and a 128-core host are judged alike: other processes using a tenth of that capacity
# on average, or the hypervisor stealing a twentieth, make a measurement noisy (on the 2-core VM these are
# the earlier absolute 0.2 and 0.1 cores; a quiet one read 0.00-0.04 cores of others, a CPU-bound job
# beside the run 0.98-1.00).
NOISY_OTHER_CPU_FRACTION = 0.10
NOISY_STEAL_FRACTION = 0.05
# On the GPU: a process NVML lists that this PID namespace cannot see (a container sees host PIDs) is not
# counted as another process blindly; it is noise when it computes (its SM utilisation over the samples
# NVML keeps) or, where NVML gives no per-process utilisation, when it holds more memory than an idle
# CUDA context does (about 0.3-0.6 GiB).
NOISY_UNKNOWN_SM_PERCENT = 5
NOISY_UNKNOWN_MEMORY_BYTES = 1 << 30
GOVERNOR_FILE = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")


@dataclasses.dataclass(frozen=True)
class CpuLoad:
    """CPU use by everything but the measured process tree, over one interval, on the CPUs it may use."""

    seconds: float
    other_cpu_cores: float  # others' CPU seconds per wall second, on the CPUs the measured process may use
    steal_cores: float  # hypervisor steal seconds per wall second, on those CPUs
    load_1m: float | None
    cpu_mhz: float | None
    governor: str | None
    cpus: int | None = None  # how many CPUs the measured process may use; None in reports before noise v2

    @property
    def capacity_cores(self) -> int:
        return self.cpus or 1

    def busy_reasons(self) -> list[str]:
        reasons = []
        of = f"of the {self.capacity_cores} CPU(s) this run may use"
        if self.other_cpu_cores >= NOISY_OTHER_CPU_FRACTION * self.capacity_cores:
            reasons.append(f"other processes used {self.other_cpu_cores:.2f} CPU cores "
                           f"({self.other_cpu_cores / self.capacity_cores:.0%} {of})")
        if self.steal_cores >= NOISY_STEAL_FRACTION * self.capacity_cores:
            reasons.append(f"the hypervisor stole {self.steal_cores:.2f} CPU cores "
                           f"({self.steal_cores / self.capacity_cores:.0%} {of})")
        return reasons


def _busy_seconds(times) -> float:
    # guest time is already inside user time on Linux; idle and iowait are not busy
    return sum(getattr(times, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq"))


def allowed_cpus(pid: int) -> set[int]:
    """The CPUs ``pid`` may run on (all of them where the OS has no affinity call)."""
    try:
        return set(os.sched_getaffinity(pid))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


class CpuLoadMonitor:
    """start() ... stop() -> CpuLoad: others' CPU = busy CPU time on the CPUs the measured process may use -
    its process tree's (the process and all its descendants, e.g. inductor's compile workers)."""

    def __init__(self, psutil: ModuleType | None = None, pid: int | None = None, cpus=allowed_cpus) -> None:
        if psutil is None:
            import psutil
        self.psutil = psutil
        self.pid = pid or os.getpid()  # the root of the process tree whose CPU time is the measurement
        self.cpus = cpus  # pid -> the CPU numbers it may use

    def own_seconds(self) -> float:
        process = self.psutil.Process(self.pid)
        times = process.cpu_times()
        total = times.user + times.system
        total += getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
        for child in process.children(recursive=True):
            try:
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
            except self.psutil.Error:  # it ended meanwhile
                continue
        return total

    def cpu_times(self) -> tuple[float, float]:
        """(busy, steal) seconds so far, summed over the CPUs the measured process may use."""
        per_cpu = self.psutil.cpu_times(percpu=True)
        allowed = [per_cpu[i] for i in sorted(self.allowed) if i < len(per_cpu)] or per_cpu
        self.counted = len(allowed)
        return (sum(_busy_seconds(times) for times in allowed),
                sum(getattr(times, "steal", 0.0) for times in allowed))

    def start(self) -> None:
        self.allowed = self.cpus(self.pid)
        self.started = time.monotonic()
        self.busy, self.steal = self.cpu_times()
        self.own = self.own_seconds()

    def stop(self) -> CpuLoad:
        seconds = max(time.monotonic() - self.started, 1e-9)
        busy_now, steal_now = self.cpu_times()
        own = self.own_seconds() - self.own
        busy, steal = busy_now - self.busy, steal_now - self.steal
        try:
            load_1m = os.getloadavg()[0]
        except OSError:
            load_1m = None
        freq = _optional(self.psutil.cpu_freq)
        return CpuLoad(seconds=round(seconds, 4), other_cpu_cores=round(max(busy - own, 0.0) / seconds, 4),
                       steal_cores=round(max(steal, 0.0) / seconds, 4), load_1m=load_1m,
                       cpu_mhz=round(freq.current, 1) if freq else None, governor=cpu_governor(),
                       cpus=self.counted)


def process_tree(pid: int, psutil: ModuleType | None = None) -> set[int]:
    """``pid`` and every descendant of it that is alive now (the run's own processes)."""
    if psutil is None:
        import psutil
    try:
        root = psutil.Process(pid)
        return {pid, *(child.pid for child in root.children(recursive=True))}
    except psutil.Error:
        return {pid}


def cpu_governor(path: Path = GOVERNOR_FILE) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _optional(call):
    try:
        return call()
    except Exception:  # noqa: BLE001 - not readable on this machine (VMs often hide frequency)
        return None


def sample_cpu_load(seconds: float, psutil: ModuleType | None = None, sleep=time.sleep) -> CpuLoad:
    """What others use right now, over ``seconds`` of this process sleeping."""
    monitor = CpuLoadMonitor(psutil)
    monitor.start()
    sleep(seconds)
    return monitor.stop()


@dataclasses.dataclass(frozen=True)
class UnknownGpuProcess:
    """A process on the GPU that this PID namespace cannot see (another container, or the host's view of
    this very run): judged by what it does on the GPU, not counted as another process blindly."""

    pid: int
    memory_bytes: int | None
    sm_percent: int | None  # its SM utilisation over NVML's recent samples; None where NVML gives none
    presumed_own: bool = False  # taken to be this run: NVML lists none of this run's PIDs, and this one fits

    @property
    def busy(self) -> bool:
        if self.presumed_own:
            return False
        if self.sm_percent is not None:
            return self.sm_percent >= NOISY_UNKNOWN_SM_PERCENT
        return self.memory_bytes is None or self.memory_bytes >= NOISY_UNKNOWN_MEMORY_BYTES

    def describe(self) -> str:
        memory = f"{self.memory_bytes / 2**20:.0f} MiB" if self.memory_bytes is not None else "unknown memory"
        sm = f", {self.sm_percent} % SM" if self.sm_percent is not None else ""
        return f"unknown process (other PID namespace?) pid {self.pid} using {memory}{sm}"


@dataclasses.dataclass(frozen=True)
class GpuLoad:
    """One GPU's state at the end of a measurement, from NVML."""

    sm_clock_mhz: int | None
    max_sm_clock_mhz: int | None
    temperature_c: int | None
    slowdowns: tuple[str, ...]  # every active slowdown reason, power cap included
    other_processes: int | None  # processes this PID namespace sees on the GPU, outside the run's tree
    unknown_processes: tuple[UnknownGpuProcess, ...] = ()

    def busy_reasons(self) -> list[str]:
        """Noise: other users of the GPU. Slowdowns are not noise: a power cap is normal under load, and a
        thermal, hardware or power-brake slowdown is a finding about the GPU (hardware_findings)."""
        reasons = [f"{self.other_processes} other process(es) on the GPU"] if self.other_processes else []
        reasons += [p.describe() for p in self.unknown_processes if p.busy]
        return reasons

    def hardware_findings(self) -> list[str]:
        """The GPU slowed itself down although nothing asked it to: a symptom of the hardware (cooling,
        power delivery), which makes a case degraded, not inconclusive."""
        from envcheck.checks.nvml import HARDWARE_SLOWDOWNS

        found = [reason for reason in self.slowdowns if reason in HARDWARE_SLOWDOWNS.values()]
        return [f"GPU clocks held down by {', '.join(found)}"] if found else []


def process_utilization(nvml: ModuleType, handle) -> dict[int, int]:
    """pid -> SM utilisation (%) over the samples NVML keeps; empty where the driver does not say."""
    samples = _optional(lambda: nvml.nvmlDeviceGetProcessUtilization(handle, 0)) or []
    found: dict[int, int] = {}
    for sample in samples:
        found[sample.pid] = max(found.get(sample.pid, 0), int(sample.smUtil))
    return found


def classify_gpu_processes(processes, own_pids: set[int], visible, utilization: dict[int, int],
                           own_memory_bytes: int | None = None) -> tuple[int, tuple[UnknownGpuProcess, ...]]:
    """(other processes this namespace sees, unknown ones) among NVML's ``processes``.

    ``visible(pid)``: whether this PID namespace has the process. A run that holds a CUDA context is on
    NVML's list: when none of its own PIDs is there, it is listed under a PID of another namespace, and
    the unknown process whose memory is closest to ``own_memory_bytes`` (the largest, if unknown) is
    presumed to be this run.
    """
    own_listed = any(p.pid in own_pids for p in processes)
    others = sum(1 for p in processes if p.pid not in own_pids and visible(p.pid))
    unknown = [UnknownGpuProcess(p.pid, _memory(p), utilization.get(p.pid))
               for p in processes if p.pid not in own_pids and not visible(p.pid)]
    if unknown and not own_listed:
        def distance(process: UnknownGpuProcess) -> float:
            memory = process.memory_bytes or 0
            return abs(memory - own_memory_bytes) if own_memory_bytes is not None else -memory

        ours = min(unknown, key=distance)
        unknown = [dataclasses.replace(p, presumed_own=True) if p is ours else p for p in unknown]
    return others, tuple(unknown)


def _memory(process) -> int | None:
    memory = getattr(process, "usedGpuMemory", None)
    return memory if isinstance(memory, int) else None  # NVML reports None where it cannot tell


def _pid_visible(pid: int) -> bool:
    import psutil

    return psutil.pid_exists(pid)


def gpu_load(nvml: ModuleType, index: int, own_pids: set[int], visible=_pid_visible,
             own_memory_bytes: int | None = None) -> GpuLoad:
    """NVML's readings of GPU ``index``; unreadable values are None (nvml initialised by the caller).
    ``own_pids``: the measured run's process tree; ``visible(pid)``: whether this PID namespace has it."""
    from envcheck.checks.nvml import SLOWDOWN_REASONS

    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    reasons = _optional(lambda: nvml.nvmlDeviceGetCurrentClocksEventReasons(handle)) or 0
    slowdowns = tuple(text for attr, text in SLOWDOWN_REASONS.items()
                      if hasattr(nvml, attr) and reasons & getattr(nvml, attr))
    processes = _optional(lambda: nvml.nvmlDeviceGetComputeRunningProcesses(handle))
    others, unknown = (None, ()) if processes is None else classify_gpu_processes(
        processes, own_pids, visible, process_utilization(nvml, handle), own_memory_bytes)
    return GpuLoad(
        sm_clock_mhz=_optional(lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
        max_sm_clock_mhz=_optional(lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_SM)),
        temperature_c=_optional(lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
        slowdowns=slowdowns,
        other_processes=others,
        unknown_processes=unknown,
    )
