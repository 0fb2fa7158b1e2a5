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

# Other processes using a fifth of a core on average, or the hypervisor stealing a tenth of
# one, make a measurement noisy. A quiet 2-core VM here read 0.00-0.04 cores of others and
# 0.00-0.21 of steal; a CPU-bound job beside the run read 0.98-1.00.
NOISY_OTHER_CPU_CORES = 0.2
NOISY_STEAL_CORES = 0.1
GOVERNOR_FILE = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")


@dataclasses.dataclass(frozen=True)
class CpuLoad:
    """CPU use by everything but the measured process tree, over one interval."""

    seconds: float
    other_cpu_cores: float  # others' CPU seconds per wall second
    steal_cores: float  # hypervisor steal seconds per wall second
    load_1m: float | None
    cpu_mhz: float | None
    governor: str | None

    def busy_reasons(self) -> list[str]:
        reasons = []
        if self.other_cpu_cores >= NOISY_OTHER_CPU_CORES:
            reasons.append(f"other processes used {self.other_cpu_cores:.2f} CPU cores")
        if self.steal_cores >= NOISY_STEAL_CORES:
            reasons.append(f"the hypervisor stole {self.steal_cores:.2f} CPU cores")
        return reasons


def _busy_seconds(times) -> float:
    # guest time is already inside user time on Linux; idle and iowait are not busy
    return sum(getattr(times, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq"))


class CpuLoadMonitor:
    """start() ... stop() -> CpuLoad: others' CPU = all busy CPU time - this process tree's."""

    def __init__(self, psutil: ModuleType | None = None, pid: int | None = None) -> None:
        if psutil is None:
            import psutil
        self.psutil = psutil
        self.pid = pid or os.getpid()  # the root of the process tree whose CPU time is the measurement

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

    def start(self) -> None:
        self.started = time.monotonic()
        self.system = self.psutil.cpu_times()
        self.own = self.own_seconds()

    def stop(self) -> CpuLoad:
        seconds = max(time.monotonic() - self.started, 1e-9)
        system = self.psutil.cpu_times()
        own = self.own_seconds() - self.own
        busy = _busy_seconds(system) - _busy_seconds(self.system)
        steal = getattr(system, "steal", 0.0) - getattr(self.system, "steal", 0.0)
        try:
            load_1m = os.getloadavg()[0]
        except OSError:
            load_1m = None
        freq = _optional(self.psutil.cpu_freq)
        return CpuLoad(seconds=round(seconds, 4), other_cpu_cores=round(max(busy - own, 0.0) / seconds, 4),
                       steal_cores=round(max(steal, 0.0) / seconds, 4), load_1m=load_1m,
                       cpu_mhz=round(freq.current, 1) if freq else None, governor=cpu_governor())


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
class GpuLoad:
    """One GPU's state at the end of a measurement, from NVML."""

    sm_clock_mhz: int | None
    max_sm_clock_mhz: int | None
    temperature_c: int | None
    slowdowns: tuple[str, ...]  # active thermal/power slowdown reasons
    other_processes: int | None

    def busy_reasons(self) -> list[str]:
        reasons = [f"GPU clocks held down by {', '.join(self.slowdowns)}"] if self.slowdowns else []
        if self.other_processes:
            reasons.append(f"{self.other_processes} other process(es) on the GPU")
        return reasons


def gpu_load(nvml: ModuleType, index: int, own_pids: set[int]) -> GpuLoad:
    """NVML's readings of GPU ``index``; unreadable values are None (nvml initialised by the caller)."""
    from envcheck.checks.nvml import SLOWDOWN_REASONS

    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    reasons = _optional(lambda: nvml.nvmlDeviceGetCurrentClocksEventReasons(handle)) or 0
    slowdowns = tuple(text for attr, text in SLOWDOWN_REASONS.items()
                      if hasattr(nvml, attr) and reasons & getattr(nvml, attr))
    processes = _optional(lambda: nvml.nvmlDeviceGetComputeRunningProcesses(handle))
    return GpuLoad(
        sm_clock_mhz=_optional(lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
        max_sm_clock_mhz=_optional(lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_SM)),
        temperature_c=_optional(lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
        slowdowns=slowdowns,
        other_processes=None if processes is None else sum(1 for p in processes if p.pid not in own_pids),
    )
