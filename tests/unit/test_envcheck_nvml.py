"""NVML health rows from scripted driver answers (no GPU needed)."""

from __future__ import annotations

import os

import pynvml
import pytest

from envcheck.checks.nvml import nvml_checks
from envcheck.records import Status
from tests.fake_nvml import fake_nvml, nvml_error, process


def rows(**answers) -> dict[str, Status]:
    results = nvml_checks(lambda: fake_nvml(**answers))
    return {result.name: result for result in results}


def test_healthy_gpu_passes_every_reading():
    results = rows()
    assert len(results) == 9
    assert {r.status for r in results.values()} == {Status.PASS}
    assert results["gpu0 temperature"].detail == "35 C (slowdown at 87 C)"


def test_unsupported_query_is_skip_with_reason_not_fail():
    results = rows(nvmlDeviceGetRetiredPagesPendingStatus=nvml_error("NVML_ERROR_NOT_SUPPORTED"))
    retired = results["gpu0 retired pages"]
    assert retired.status is Status.SKIP
    assert "not supported" in retired.detail
    assert results["gpu0 remapped rows"].status is Status.PASS  # the rest still ran


@pytest.mark.parametrize(
    ("answers", "row", "status", "fix_word"),
    [
        ({"nvmlDeviceGetTotalEccErrors": 3}, "gpu0 ECC", Status.FAIL, "drain"),
        ({"nvmlDeviceGetEccMode": (0, 0)}, "gpu0 ECC", Status.WARN, "nvidia-smi"),
        ({"nvmlDeviceGetRemappedRows": (2, 1, 1, 0)}, "gpu0 remapped rows", Status.FAIL, "reset"),
        ({"nvmlDeviceGetRemappedRows": (0, 0, 0, 1)}, "gpu0 remapped rows", Status.FAIL, "RMA"),
        ({"nvmlDeviceGetRetiredPagesPendingStatus": 1}, "gpu0 retired pages", Status.FAIL, "reset"),
        ({"nvmlDeviceGetCurrentClocksEventReasons": pynvml.nvmlClocksEventReasonSwThermalSlowdown},
         "gpu0 clock events", Status.WARN, "cooling"),
        ({"nvmlDeviceGetCurrPcieLinkGeneration": 1}, "gpu0 PCIe link", Status.WARN, "under load"),
        ({"nvmlDeviceGetCurrPcieLinkWidth": 8}, "gpu0 PCIe link", Status.WARN, "under load"),
        ({"nvmlDeviceGetTemperature": 85}, "gpu0 temperature", Status.WARN, "airflow"),
        ({"nvmlDeviceGetPersistenceMode": 0}, "gpu0 persistence mode", Status.WARN, "-pm 1"),
        ({"nvmlDeviceGetMigMode": (1, 1)}, "gpu0 MIG mode", Status.WARN, "MIG"),
        ({"nvmlDeviceGetComputeRunningProcesses": [process(os.getpid() + 1)]},
         "gpu0 other processes", Status.WARN, "stop them"),
        ({"nvmlDeviceGetTemperature": nvml_error("NVML_ERROR_GPU_IS_LOST")},
         "gpu0 temperature", Status.FAIL, "Xid"),
        ({"nvmlDeviceGetMigMode": nvml_error("NVML_ERROR_UNKNOWN")}, "gpu0 MIG mode", Status.WARN, "nvidia-smi"),
    ],
)
def test_bad_readings_get_verdicts_with_fixes(answers, row, status, fix_word):
    result = rows(**answers)[row]
    assert result.status is status
    assert fix_word in result.fix


def test_own_process_is_not_another_process():
    result = rows(nvmlDeviceGetComputeRunningProcesses=[process(os.getpid())])["gpu0 other processes"]
    assert result.status is Status.PASS


def test_power_idle_reason_is_not_a_slowdown():
    result = rows(nvmlDeviceGetCurrentClocksEventReasons=pynvml.nvmlClocksEventReasonGpuIdle)["gpu0 clock events"]
    assert result.status is Status.PASS


def test_missing_nvml_library_is_one_skip_row():
    def broken():
        module = fake_nvml(nvmlInit=nvml_error("NVML_ERROR_LIBRARY_NOT_FOUND"))
        return module

    results = nvml_checks(broken)
    assert [(r.name, r.status) for r in results] == [("NVML", Status.SKIP)]
    assert "no NVIDIA driver" in results[0].detail


def test_nvml_package_missing_is_skip():
    def missing():
        raise ModuleNotFoundError("No module named 'pynvml'")

    (result,) = nvml_checks(missing)
    assert result.status is Status.SKIP and "pynvml" in result.detail


def test_every_gpu_is_checked():
    results = nvml_checks(lambda: fake_nvml(nvmlDeviceGetCount=2))
    assert {r.name.split()[0] for r in results} == {"gpu0", "gpu1"}
