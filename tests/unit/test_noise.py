"""Noise detection (rule 11) from faked psutil and NVML readings, and what a noisy run does to a case."""

from __future__ import annotations

import types

import pynvml

from envcheck.load import CpuLoadMonitor, gpu_load
from tests.fake_nvml import fake_nvml, process
from tests.reports import record


class FakePsutil:
    """CPU times that advance by scripted amounts between start() and stop()."""

    Error = Exception

    def __init__(self, busy_others: float, steal: float, own: float) -> None:
        self.calls = 0
        self.busy_others, self.steal, self.own = busy_others, steal, own

    def cpu_times(self):
        self.calls += 1
        done = self.calls > 1
        own = self.own if done else 0.0
        return types.SimpleNamespace(user=100.0 + own + (self.busy_others if done else 0.0), nice=0.0, system=50.0,
                                     irq=0.0, softirq=0.0, idle=1000.0, steal=self.steal if done else 0.0)

    def Process(self, pid):  # noqa: N802 - psutil's name
        fake = self

        class Proc:
            def cpu_times(self):
                return types.SimpleNamespace(user=fake.own if fake.calls > 1 else 0.0, system=0.0,
                                             children_user=0.0, children_system=0.0)

            def children(self, recursive=True):
                return []

        return Proc()

    def cpu_freq(self):
        return types.SimpleNamespace(current=2100.0)


def measure(psutil) -> object:
    monitor = CpuLoadMonitor(psutil, pid=1)
    monitor.start()
    return monitor.stop()


def test_a_quiet_machine_is_quiet():
    load = measure(FakePsutil(busy_others=0.0, steal=0.0, own=1.0))
    assert load.other_cpu_cores == 0.0 and load.busy_reasons() == []
    assert load.cpu_mhz == 2100.0


def test_other_processes_and_steal_are_noise():
    load = measure(FakePsutil(busy_others=1e6, steal=0.0, own=1.0))
    assert load.other_cpu_cores > 0.2 and "other processes used" in load.busy_reasons()[0]
    stolen = measure(FakePsutil(busy_others=0.0, steal=1e6, own=0.0))
    assert "hypervisor stole" in stolen.busy_reasons()[0]


def test_own_work_is_not_noise():
    load = measure(FakePsutil(busy_others=0.0, steal=0.0, own=1e6))
    assert load.other_cpu_cores == 0.0


def test_gpu_throttling_and_other_processes_are_noise():
    nvml = fake_nvml(nvmlDeviceGetCurrentClocksEventReasons=pynvml.nvmlClocksEventReasonSwThermalSlowdown,
                     nvmlDeviceGetComputeRunningProcesses=[process(1), process(99)],
                     nvmlDeviceGetClockInfo=1980, nvmlDeviceGetMaxClockInfo=1980)
    reading = gpu_load(nvml, 0, own_pids={1})
    assert reading.other_processes == 1 and reading.sm_clock_mhz == 1980
    assert reading.busy_reasons() == ["GPU clocks held down by software thermal slowdown",
                                      "1 other process(es) on the GPU"]
    idle = fake_nvml(nvmlDeviceGetCurrentClocksEventReasons=pynvml.nvmlClocksEventReasonGpuIdle,
                     nvmlDeviceGetClockInfo=345, nvmlDeviceGetMaxClockInfo=1980)
    assert gpu_load(idle, 0, own_pids=set()).busy_reasons() == []


def test_a_case_is_noisy_when_most_runs_were():
    assert record([0.01] * 5, noisy_runs=(0, 1, 2)).noisy
    one = record([0.01, 0.01, 0.01, 0.01, 0.05], noisy_runs=(4,))
    assert not one.noisy and one.run_step_s == [0.01] * 4  # the noisy run is set aside
    assert record([0.01, 0.01], noisy_runs=(1,)).noisy  # one quiet run cannot decide

