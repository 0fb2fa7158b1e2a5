"""GPU health through NVML (package nvidia-ml-py): one CheckResult per reading.

A query the driver does not support (retired pages on an H200 in a VM, ECC on a
consumer card) is SKIP with the reason, never a FAIL and never a crash.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

from envcheck.checks.registry import CheckContext, register
from envcheck.records import CheckResult, failed, first_line, passed, skipped, warned

# Clock-event reasons that mean the GPU slowed itself down: a symptom of the hardware (cooling, power
# delivery), a finding about the GPU rather than noise (docs/measurement.md, rule 11).
HARDWARE_SLOWDOWNS = {
    "nvmlClocksEventReasonHwSlowdown": "hardware slowdown",
    "nvmlClocksEventReasonHwThermalSlowdown": "hardware thermal slowdown",
    "nvmlClocksEventReasonSwThermalSlowdown": "software thermal slowdown",
    "nvmlClocksEventReasonHwPowerBrakeSlowdown": "power-brake slowdown",
}
# Clock-event reasons that mean the GPU is running slower than it could: the hardware's, and the power
# cap (normal under load on an H100/H200: neither noise nor a finding, but recorded).
SLOWDOWN_REASONS = {**HARDWARE_SLOWDOWNS, "nvmlClocksEventReasonSwPowerCap": "power cap"}
UNSUPPORTED_ERRORS = ("NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_FUNCTION_NOT_FOUND")
TEMPERATURE_MARGIN_C = 5


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class GpuHealth:
    """The NVML health checks of one GPU."""

    def __init__(self, nvml: ModuleType, index: int) -> None:
        self.nvml = nvml
        self.index = index
        self.handle = nvml.nvmlDeviceGetHandleByIndex(index)

    def name(self, what: str) -> str:
        return f"gpu{self.index} {what}"

    def run(self, what: str, query: Callable[[], CheckResult]) -> CheckResult:
        """Run one reading; NVML errors become SKIP (unsupported) or WARN rows."""
        name = self.name(what)
        try:
            return query()
        except self.nvml.NVMLError as error:
            value = getattr(error, "value", None)
            unsupported = {getattr(self.nvml, code, None) for code in UNSUPPORTED_ERRORS}
            if value in unsupported:
                return skipped(name, f"not supported by this driver/GPU ({_text(error)})")
            if value == getattr(self.nvml, "NVML_ERROR_NO_PERMISSION", None):
                return skipped(name, f"no permission to query ({_text(error)}); run as root")
            if value == getattr(self.nvml, "NVML_ERROR_GPU_IS_LOST", None):
                return failed(name, "the GPU has fallen off the bus",
                              "check `dmesg` for Xid errors; reset the GPU or reboot the node")
            return warned(name, f"NVML query failed: {first_line(error)}",
                          "run `nvidia-smi -q` to see whether the driver answers")

    def checks(self) -> list[CheckResult]:
        return [
            self.run("ECC", self.ecc),
            self.run("remapped rows", self.remapped_rows),
            self.run("retired pages", self.retired_pages),
            self.run("clock events", self.clock_events),
            self.run("PCIe link", self.pcie_link),
            self.run("temperature", self.temperature),
            self.run("persistence mode", self.persistence_mode),
            self.run("MIG mode", self.mig_mode),
            self.run("other processes", self.other_processes),
        ]

    def ecc(self) -> CheckResult:
        nvml, name = self.nvml, self.name("ECC")
        current, _pending = nvml.nvmlDeviceGetEccMode(self.handle)
        if not current:
            return warned(name, "ECC is disabled",
                          "enable it with `nvidia-smi -i N -e 1` and reboot, for trustworthy results")
        errors = nvml.nvmlDeviceGetTotalEccErrors(
            self.handle, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC
        )
        if errors > 0:
            return failed(name, f"{errors} volatile uncorrected ECC errors since the driver loaded",
                          "drain the node; reset the GPU (`nvidia-smi -r`) and check `dmesg` for Xid 48/63/64")
        return passed(name, "enabled, 0 volatile uncorrected errors")

    def remapped_rows(self) -> CheckResult:
        name = self.name("remapped rows")
        corrected, uncorrected, pending, failure = self.nvml.nvmlDeviceGetRemappedRows(self.handle)
        if failure:
            return failed(name, "a row remapping failed: the memory is degraded",
                          "replace the GPU (RMA); remapping has run out of spare rows")
        if pending:
            return failed(name, f"row remapping pending ({uncorrected} uncorrectable)",
                          "reset the GPU (`nvidia-smi -r`) or reboot to apply the pending remap")
        return passed(name, f"{corrected} corrected, {uncorrected} uncorrectable, none pending")

    def retired_pages(self) -> CheckResult:
        name = self.name("retired pages")
        pending = self.nvml.nvmlDeviceGetRetiredPagesPendingStatus(self.handle)
        if pending:
            return failed(name, "page retirement pending",
                          "reset the GPU (`nvidia-smi -r`) or reboot to retire the pages")
        return passed(name, "no page retirement pending")

    def clock_events(self) -> CheckResult:
        nvml, name = self.nvml, self.name("clock events")
        reasons = nvml.nvmlDeviceGetCurrentClocksEventReasons(self.handle)
        active = [text for attr, text in SLOWDOWN_REASONS.items()
                  if hasattr(nvml, attr) and reasons & getattr(nvml, attr)]
        if active:
            return warned(name, "clocks held down by " + ", ".join(active),
                          "check cooling and power limits (`nvidia-smi -q -d PERFORMANCE,POWER`)")
        return passed(name, f"no thermal or power slowdown (reasons mask {reasons:#x})")

    def pcie_link(self) -> CheckResult:
        nvml, name = self.nvml, self.name("PCIe link")
        gen, width = (nvml.nvmlDeviceGetCurrPcieLinkGeneration(self.handle),
                      nvml.nvmlDeviceGetCurrPcieLinkWidth(self.handle))
        max_gen, max_width = (nvml.nvmlDeviceGetMaxPcieLinkGeneration(self.handle),
                              nvml.nvmlDeviceGetMaxPcieLinkWidth(self.handle))
        detail = f"gen{gen} x{width} (max gen{max_gen} x{max_width})"
        if gen < max_gen or width < max_width:
            return warned(name, f"{detail}; below the maximum (idle GPUs down-train the link)",
                          "re-check under load; if it stays low, reseat the card or check the slot/riser")
        return passed(name, detail)

    def temperature(self) -> CheckResult:
        nvml, name = self.nvml, self.name("temperature")
        celsius = nvml.nvmlDeviceGetTemperature(self.handle, nvml.NVML_TEMPERATURE_GPU)
        try:
            slowdown = nvml.nvmlDeviceGetTemperatureThreshold(
                self.handle, nvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN)
        except nvml.NVMLError:
            slowdown = None
        if slowdown and celsius >= slowdown - TEMPERATURE_MARGIN_C:
            return warned(name, f"{celsius} C, near the slowdown threshold of {slowdown} C",
                          "check airflow and fans before benchmarking")
        limit = f" (slowdown at {slowdown} C)" if slowdown else ""
        return passed(name, f"{celsius} C{limit}")

    def persistence_mode(self) -> CheckResult:
        name = self.name("persistence mode")
        if self.nvml.nvmlDeviceGetPersistenceMode(self.handle):
            return passed(name, "enabled")
        return warned(name, "disabled: the driver reloads for each process, adding start-up latency",
                      "enable with `sudo nvidia-smi -pm 1` (or run nvidia-persistenced)")

    def mig_mode(self) -> CheckResult:
        name = self.name("MIG mode")
        current, pending = self.nvml.nvmlDeviceGetMigMode(self.handle)
        if current:
            return warned(name, "MIG enabled: benchmarks see one slice, not the whole GPU",
                          "compare only with the same MIG profile, or disable it (`nvidia-smi -i N -mig 0`)")
        return passed(name, "disabled" + (" (change pending)" if pending != current else ""))

    def other_processes(self) -> CheckResult:
        name = self.name("other processes")
        processes = self.nvml.nvmlDeviceGetComputeRunningProcesses(self.handle)
        others = [p.pid for p in processes if p.pid != os.getpid()]
        if others:
            return warned(name, f"{len(others)} other process(es) on this GPU: pids {others[:5]}",
                          "stop them before benchmarking; they share the GPU's time and memory")
        return passed(name, "no other compute processes")


@register("nvml", needs_torch=False)
def check_nvml(ctx: CheckContext) -> list[CheckResult]:
    return nvml_checks(ctx.probes.nvml)


def nvml_checks(load_nvml: Callable[[], ModuleType]) -> list[CheckResult]:
    """All NVML health rows; one SKIP row when NVML itself is absent."""
    try:
        nvml = load_nvml()
        nvml.nvmlInit()
    except Exception as error:  # noqa: BLE001 - no NVML is a finding
        return [skipped("NVML", f"NVML unavailable ({first_line(error)}): no NVIDIA driver")]
    try:
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            return [skipped("NVML", "NVML found no GPU")]
        results = []
        for index in range(count):
            try:
                results.extend(GpuHealth(nvml, index).checks())
            except nvml.NVMLError as error:
                results.append(failed(f"gpu{index} NVML", f"cannot open the GPU: {first_line(error)}",
                                      "check `nvidia-smi`; the GPU may need a reset"))
        return results
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110 - shutting down is best effort
            pass
