"""Facts about torch, the GPUs it sees and the NVIDIA driver: each probe a value or None, never a crash."""

from __future__ import annotations

import dataclasses

from envcheck.probes import Probes
from envcheck.records import first_line


@dataclasses.dataclass(frozen=True)
class TorchFacts:
    version: str
    git_version: str | None
    debug: bool | None
    cuda_build: str | None
    hip_build: str | None
    cudnn_version: int | None
    nccl_version: str | None
    mkl: bool | None
    mkldnn: bool | None
    openmp: bool | None
    cuda_available: bool
    device_count: int
    driver_cuda_version: int | None  # from the CUDA driver API, e.g. 12040


@dataclasses.dataclass(frozen=True)
class GpuFacts:
    index: int
    name: str
    capability: tuple[int, int]
    memory_bytes: int
    sm_count: int


@dataclasses.dataclass(frozen=True)
class NvmlFacts:
    driver_version: str | None
    driver_cuda_version: int | None  # e.g. 12040
    device_count: int | None
    error: str | None = None


def _optional(call):
    """Run a torch query that may not exist in this build; None when it fails."""
    try:
        return call()
    except Exception:  # noqa: BLE001 - a missing query means "unknown"
        return None


def nccl_version(torch) -> str | None:
    version = _optional(lambda: torch.cuda.nccl.version())
    if isinstance(version, tuple):
        return ".".join(str(part) for part in version)
    return None if version is None else str(version)


def torch_facts(torch) -> TorchFacts:
    cuda_available = bool(_optional(torch.cuda.is_available))
    return TorchFacts(
        version=torch.__version__,
        git_version=getattr(torch.version, "git_version", None),
        debug=getattr(torch.version, "debug", None),
        cuda_build=torch.version.cuda,
        hip_build=getattr(torch.version, "hip", None),
        cudnn_version=_optional(torch.backends.cudnn.version) if cuda_available else None,
        nccl_version=nccl_version(torch) if cuda_available else None,
        mkl=_optional(torch.backends.mkl.is_available),
        mkldnn=_optional(torch.backends.mkldnn.is_available),
        openmp=_optional(torch.backends.openmp.is_available),
        cuda_available=cuda_available,
        device_count=(_optional(torch.cuda.device_count) or 0) if cuda_available else 0,
        driver_cuda_version=_optional(torch._C._cuda_getDriverVersion) if cuda_available else None,
    )


def gpu_facts(torch) -> tuple[GpuFacts, ...]:
    if not _optional(torch.cuda.is_available):
        return ()
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append(
            GpuFacts(
                index=index,
                name=props.name,
                capability=(props.major, props.minor),
                memory_bytes=props.total_memory,
                sm_count=props.multi_processor_count,
            )
        )
    return tuple(gpus)


def nvml_facts(probes: Probes) -> NvmlFacts:
    try:
        nvml = probes.nvml()
        nvml.nvmlInit()
    except Exception as error:  # noqa: BLE001 - no driver is a finding, not a crash
        return NvmlFacts(None, None, None, error=first_line(error))
    try:
        driver = nvml.nvmlSystemGetDriverVersion()
        return NvmlFacts(
            driver_version=driver.decode() if isinstance(driver, bytes) else driver,
            driver_cuda_version=_optional(nvml.nvmlSystemGetCudaDriverVersion),
            device_count=_optional(nvml.nvmlDeviceGetCount),
        )
    except Exception as error:  # noqa: BLE001
        return NvmlFacts(None, None, None, error=first_line(error))
    finally:
        _optional(nvml.nvmlShutdown)
