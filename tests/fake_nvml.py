"""A fake pynvml: the real module's constants and error classes, scripted answers.

Each query answers from ``answers``; an answer that is an exception instance is raised.
"""

from __future__ import annotations

import types

import pynvml


def nvml_error(code_name: str) -> pynvml.NVMLError:
    return pynvml.NVMLError(getattr(pynvml, code_name))


HEALTHY = {
    "nvmlDeviceGetCount": 1,
    "nvmlSystemGetDriverVersion": "570.1",
    "nvmlSystemGetCudaDriverVersion": 12080,
    "nvmlDeviceGetEccMode": (1, 1),
    "nvmlDeviceGetTotalEccErrors": 0,
    "nvmlDeviceGetRemappedRows": (0, 0, 0, 0),
    "nvmlDeviceGetRetiredPagesPendingStatus": 0,
    "nvmlDeviceGetCurrentClocksEventReasons": 0,
    "nvmlDeviceGetCurrPcieLinkGeneration": 5,
    "nvmlDeviceGetCurrPcieLinkWidth": 16,
    "nvmlDeviceGetMaxPcieLinkGeneration": 5,
    "nvmlDeviceGetMaxPcieLinkWidth": 16,
    "nvmlDeviceGetTemperature": 35,
    "nvmlDeviceGetTemperatureThreshold": 87,
    "nvmlDeviceGetPersistenceMode": 1,
    "nvmlDeviceGetMigMode": (0, 0),
    "nvmlDeviceGetComputeRunningProcesses": [],
    "nvmlDeviceGetProcessUtilization": [],  # no samples
}


def fake_nvml(**overrides) -> types.SimpleNamespace:
    answers = {**HEALTHY, **overrides}
    module = types.SimpleNamespace(**{k: v for k, v in vars(pynvml).items() if not k.startswith("nvml")})

    def responder(name):
        def call(*_args):
            answer = answers[name]
            if isinstance(answer, BaseException):
                raise answer
            return answer
        return call

    for name in answers:
        setattr(module, name, responder(name))
    for name in ("nvmlInit", "nvmlShutdown"):
        setattr(module, name, answers.get(name) and responder(name) or (lambda: None))
    module.nvmlDeviceGetHandleByIndex = lambda index: f"handle{index}"
    for name, value in vars(pynvml).items():
        if name.startswith(("nvmlClocksEventReason", "nvmlClocksThrottleReason")):
            setattr(module, name, value)
    return module


def process(pid: int, memory_bytes: int | None = 1 << 20) -> types.SimpleNamespace:
    return types.SimpleNamespace(pid=pid, usedGpuMemory=memory_bytes)


def utilization(pid: int, sm_percent: int) -> types.SimpleNamespace:
    """One sample of nvmlDeviceGetProcessUtilization."""
    return types.SimpleNamespace(pid=pid, smUtil=sm_percent, memUtil=0, timeStamp=0)
