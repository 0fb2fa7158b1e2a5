"""Noise detection (rule 11) from faked psutil and NVML readings, and what a noisy run does to a case."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pynvml
import pytest

from bench.results.records import Noise
from envcheck.codec import from_jsonable, to_jsonable
from envcheck.load import CpuLoad, CpuLoadMonitor, gpu_load, process_tree
from tests.fake_nvml import fake_nvml, process, utilization
from tests.reports import record

GIB = 1 << 30


class FakePsutil:
    """Per-CPU times that advance by scripted amounts between start() and stop().

    ``busy``: CPU number -> busy seconds others add meanwhile; ``steal`` likewise; ``own``: the measured
    process tree's CPU seconds meanwhile (spread over the CPUs it may use)."""

    Error = Exception

    def __init__(self, cpus: int = 2, busy: dict[int, float] | None = None, steal: dict[int, float] | None = None,
                 own: float = 0.0, own_cpus: tuple[int, ...] = (0,)) -> None:
        self.calls = 0
        self.cpus, self.busy, self.steal, self.own, self.own_cpus = cpus, busy or {}, steal or {}, own, own_cpus

    def cpu_times(self, percpu=False):
        assert percpu, "noise is measured per CPU"
        self.calls += 1
        done = self.calls > 1
        own = self.own / len(self.own_cpus)
        return [types.SimpleNamespace(
            user=100.0 + (self.busy.get(i, 0.0) + (own if i in self.own_cpus else 0.0) if done else 0.0), nice=0.0,
            system=50.0, irq=0.0, softirq=0.0, idle=1000.0, steal=self.steal.get(i, 0.0) if done else 0.0)
            for i in range(self.cpus)]

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


def measure(psutil, allowed: set[int] | None = None) -> CpuLoad:
    cpus = allowed if allowed is not None else set(range(psutil.cpus))
    monitor = CpuLoadMonitor(psutil, pid=1, cpus=lambda pid: cpus)
    monitor.start()
    return monitor.stop()


def test_a_quiet_machine_is_quiet():
    load = measure(FakePsutil(own=1.0))
    assert load.other_cpu_cores == 0.0 and load.busy_reasons() == []
    assert load.cpu_mhz == 2100.0 and load.cpus == 2


def test_other_processes_and_steal_are_noise():
    load = measure(FakePsutil(busy={1: 1e6}, own=1.0))
    assert "other processes used" in load.busy_reasons()[0]
    assert "of the 2 CPU(s) this run may use" in load.busy_reasons()[0]
    stolen = measure(FakePsutil(steal={0: 1e6}))
    assert "hypervisor stole" in stolen.busy_reasons()[0]


def test_thresholds_are_relative_to_the_cpus_the_run_may_use():
    """0.3 cores of others: 15 % of a 2-core VM (noisy), 0.2 % of a 128-core host (quiet); 12 % of either is
    noisy, 8 % of either is not."""
    assert CpuLoad(1.0, 0.3, 0.0, None, None, None, cpus=2).busy_reasons()
    assert not CpuLoad(1.0, 0.3, 0.0, None, None, None, cpus=128).busy_reasons()
    for cpus in (2, 128):
        assert CpuLoad(1.0, 0.12 * cpus, 0.0, None, None, None, cpus=cpus).busy_reasons()
        assert not CpuLoad(1.0, 0.08 * cpus, 0.0, None, None, None, cpus=cpus).busy_reasons()
        assert CpuLoad(1.0, 0.0, 0.06 * cpus, None, None, None, cpus=cpus).busy_reasons()
        assert not CpuLoad(1.0, 0.0, 0.04 * cpus, None, None, None, cpus=cpus).busy_reasons()


def test_only_the_cpus_the_run_may_use_count():
    """A job pinned to CPUs 2-3 does not disturb a run pinned to CPUs 0-1 (os.sched_getaffinity)."""
    elsewhere = measure(FakePsutil(cpus=4, busy={2: 1e6, 3: 1e6}), allowed={0, 1})
    assert elsewhere.other_cpu_cores == 0.0 and elsewhere.cpus == 2 and elsewhere.busy_reasons() == []
    beside = measure(FakePsutil(cpus=4, busy={1: 1e6}), allowed={0, 1})
    assert beside.other_cpu_cores > 0 and beside.busy_reasons()


def test_own_work_is_not_noise():
    load = measure(FakePsutil(own=1e6, own_cpus=(0, 1)))
    assert load.other_cpu_cores == 0.0


def test_the_run_s_whole_process_tree_is_its_own():
    """A real child (as inductor's compile workers are): its PID is in the run's tree, its CPU time the
    run's own; a GPU process under its PID is not 'another process'."""
    burn = ("import time, sys\nwhile time.process_time() < 0.3: pass\nprint('done', flush=True)\ntime.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        monitor = CpuLoadMonitor(pid=os.getpid())
        before = monitor.own_seconds()
        assert child.stdout.readline().strip() == "done"
        assert monitor.own_seconds() - before >= 0.25  # the child's 0.3 CPU seconds are the run's
        tree = process_tree(os.getpid())
        assert {os.getpid(), child.pid, sleeper.pid} <= tree
        nvml = fake_nvml(nvmlDeviceGetComputeRunningProcesses=[process(sleeper.pid), process(os.getpid())])
        reading = gpu_load(nvml, 0, tree)
        assert reading.other_processes == 0 and reading.busy_reasons() == []
        assert gpu_load(nvml, 0, {os.getpid()}).other_processes == 1  # only the worker's PID: blamed wrongly
    finally:
        for spawned in (child, sleeper):
            spawned.kill()
            spawned.wait()


def slowed(reason: str) -> object:
    return gpu_load(fake_nvml(nvmlDeviceGetCurrentClocksEventReasons=getattr(pynvml, reason)), 0, set(),
                    visible=lambda pid: True)


@pytest.mark.parametrize("reason", ["nvmlClocksEventReasonSwThermalSlowdown", "nvmlClocksEventReasonHwSlowdown",
                                    "nvmlClocksEventReasonHwThermalSlowdown",
                                    "nvmlClocksEventReasonHwPowerBrakeSlowdown"])
def test_a_gpu_slowing_itself_down_is_a_hardware_finding_not_noise(reason):
    reading = slowed(reason)
    assert reading.busy_reasons() == []
    (finding,) = reading.hardware_findings()
    assert finding.startswith("GPU clocks held down by") and "slowdown" in finding


def test_power_capping_is_neither_noise_nor_a_finding():
    reading = slowed("nvmlClocksEventReasonSwPowerCap")
    assert reading.slowdowns == ("power cap",)  # recorded
    assert reading.busy_reasons() == [] and reading.hardware_findings() == []
    idle = fake_nvml(nvmlDeviceGetCurrentClocksEventReasons=pynvml.nvmlClocksEventReasonGpuIdle,
                     nvmlDeviceGetClockInfo=345, nvmlDeviceGetMaxClockInfo=1980)
    assert gpu_load(idle, 0, own_pids=set()).busy_reasons() == []


def test_other_processes_on_the_gpu_are_noise():
    nvml = fake_nvml(nvmlDeviceGetComputeRunningProcesses=[process(1), process(99)],
                     nvmlDeviceGetClockInfo=1980, nvmlDeviceGetMaxClockInfo=1980)
    reading = gpu_load(nvml, 0, own_pids={1}, visible=lambda pid: True)
    assert reading.other_processes == 1 and reading.sm_clock_mhz == 1980
    assert reading.busy_reasons() == ["1 other process(es) on the GPU"]


def in_container(processes, utilization_samples=(), own_memory=None, own_pids=frozenset({10, 11})):
    """NVML reports host PIDs (70001, ...) that this PID namespace (10, 11, ...) cannot see."""
    nvml = fake_nvml(nvmlDeviceGetComputeRunningProcesses=processes,
                     nvmlDeviceGetProcessUtilization=list(utilization_samples))
    return gpu_load(nvml, 0, set(own_pids), visible=lambda pid: pid < 1000, own_memory_bytes=own_memory)


def test_a_pid_from_another_namespace_is_not_blindly_another_process():
    alone = in_container([process(70001, 12 * GIB)])
    assert alone.other_processes == 0 and alone.busy_reasons() == []  # the run itself, under its host PID
    (ours,) = alone.unknown_processes
    assert ours.presumed_own and ours.pid == 70001


def test_an_unknown_process_is_judged_by_what_it_does_on_the_gpu():
    # ours is the one whose memory matches the run's (12 GiB); the other computes at 40 % SM: noise
    busy = in_container([process(70001, 2 * GIB), process(70002, 12 * GIB)],
                        [utilization(70001, 40), utilization(70002, 90)], own_memory=12 * GIB)
    assert [p.presumed_own for p in busy.unknown_processes] == [False, True]
    assert busy.busy_reasons() == ["unknown process (other PID namespace?) pid 70001 using 2048 MiB, 40 % SM"]
    idle = in_container([process(70001, 2 * GIB), process(70002, 12 * GIB)],
                        [utilization(70001, 0), utilization(70002, 90)], own_memory=12 * GIB)
    assert idle.busy_reasons() == []  # holds memory, computes nothing
    # without per-process utilisation: a context-sized holder is quiet, one holding 4 GiB is not
    small = in_container([process(70001, 12 * GIB), process(70002, 300 << 20)], own_memory=12 * GIB)
    assert small.busy_reasons() == []
    large = in_container([process(70001, 12 * GIB), process(70002, 4 * GIB)], own_memory=12 * GIB)
    assert large.busy_reasons() == ["unknown process (other PID namespace?) pid 70002 using 4096 MiB"]
    # where the run is listed under its own PID, no unknown process is presumed to be it
    listed = in_container([process(10, 12 * GIB), process(70002, 4 * GIB)], own_memory=12 * GIB)
    assert not listed.unknown_processes[0].presumed_own and len(listed.busy_reasons()) == 1


def test_noise_records_of_old_reports_still_load():
    old = {"cpu": {"seconds": 1.0, "other_cpu_cores": 0.01, "steal_cores": 0.0, "load_1m": 0.1, "cpu_mhz": None,
                   "governor": None},
           "gpu": {"sm_clock_mhz": 1980, "max_sm_clock_mhz": 1980, "temperature_c": 40, "slowdowns": [],
                   "other_processes": 0},
           "reasons": []}
    noise = from_jsonable(Noise, old)
    assert noise.hardware_findings == [] and noise.cpu.cpus is None and noise.gpu.unknown_processes == ()
    new = Noise(gpu=in_container([process(70001, GIB), process(70002, 4 * GIB)], own_memory=GIB),
                hardware_findings=["GPU clocks held down by hardware slowdown"])
    assert from_jsonable(Noise, to_jsonable(new)) == new


def test_a_case_is_noisy_when_most_runs_were():
    assert record([0.01] * 5, noisy_runs=(0, 1, 2)).noisy
    one = record([0.01, 0.01, 0.01, 0.01, 0.05], noisy_runs=(4,))
    assert not one.noisy and one.run_step_s == [0.01] * 4  # the noisy run is set aside
    assert record([0.01, 0.01], noisy_runs=(1,)).noisy  # one quiet run cannot decide
