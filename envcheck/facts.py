"""Facts about this machine and its PyTorch install, as typed records.

Each probe is a small function returning a value or None (unknown); values keep
their real types (ints, tuples, bools) until the renderer formats them.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import re
import socket
import sys

from envcheck.capabilities import CPU_ISA_FLAGS, DeviceCapabilities, cpu_capabilities, cuda_capabilities
from envcheck.probes import Probes
from envcheck.records import first_line
from envcheck.torch_facts import GpuFacts, NvmlFacts, TorchFacts, gpu_facts, nvml_facts, torch_facts

ENV_VARS = (
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "CUBLAS_WORKSPACE_CONFIG",
    "CUDA_LAUNCH_BLOCKING",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "PYTORCH_CUDA_ALLOC_CONF",
    "TORCH_CUDA_ARCH_LIST",
    "NCCL_DEBUG",
    "ONEDNN_MAX_CPU_ISA",
    "ATEN_CPU_CAPABILITY",
    "HF_HUB_OFFLINE",
)
ENV_PREFIXES = ("TORCHINDUCTOR_", "TORCH_COMPILE_", "TORCHDYNAMO_")

PACKAGES = (
    "torch",
    "torchvision",
    "triton",
    "numpy",
    "pytest",
    "pytest-benchmark",
    "psutil",
    "nvidia-ml-py",
    "rich",
    "matplotlib",
    "safetensors",
    "scipy",
    "transformers",
    "peft",
)
NVIDIA_PACKAGE = re.compile(r"^nvidia-(cudnn|nccl|cublas|cuda-runtime|cuda-nvrtc)")


@dataclasses.dataclass(frozen=True)
class PythonFacts:
    version: str
    implementation: str
    executable: str


@dataclasses.dataclass(frozen=True)
class SystemFacts:
    hostname: str
    os: str
    kernel: str
    machine: str
    libc: str | None
    cxx_compiler: str | None


@dataclasses.dataclass(frozen=True)
class CpuFacts:
    model: str | None
    physical_cores: int | None
    logical_cores: int | None
    ram_bytes: int | None
    flags: tuple[str, ...] = ()  # the ISA flags that decide speed here (capabilities.CPU_ISA_FLAGS)


@dataclasses.dataclass(frozen=True)
class Facts:
    python: PythonFacts
    system: SystemFacts
    cpu: CpuFacts
    torch: TorchFacts | None
    torch_error: str | None
    torchvision_version: str | None
    torchvision_error: str | None
    gpus: tuple[GpuFacts, ...]
    nvml: NvmlFacts
    env: dict[str, str]
    packages: dict[str, str]

    def capabilities(self, device: str) -> DeviceCapabilities:
        """What ``device`` (cpu, cuda, cuda:N) computes natively, from these facts."""
        if device.startswith("cuda"):
            index = int(device.partition(":")[2] or 0)
            gpu = next((g for g in self.gpus if g.index == index), None)
            return cuda_capabilities(gpu.capability if gpu else None)
        return cpu_capabilities(self.cpu.flags, self.env)


def python_facts() -> PythonFacts:
    return PythonFacts(
        version=platform.python_version(),
        implementation=platform.python_implementation(),
        executable=sys.executable,
    )


def libc_version() -> str | None:
    name, version = platform.libc_ver()
    return f"{name} {version}" if name else None


def cxx_compiler(probes: Probes) -> str | None:
    """First line of ``c++ --version``: inductor needs a C++ compiler on the CPU."""
    out = probes.run_command(["c++", "--version"])
    return out.splitlines()[0].strip() if out else None


def system_facts(probes: Probes) -> SystemFacts:
    uname = platform.uname()
    return SystemFacts(
        hostname=socket.gethostname(),
        os=platform.platform(terse=True),
        kernel=uname.release,
        machine=uname.machine,
        libc=libc_version(),
        cxx_compiler=cxx_compiler(probes),
    )


def cpuinfo_field(names: tuple[str, ...], path: str = "/proc/cpuinfo") -> str | None:
    """The first /proc/cpuinfo line whose key is one of ``names`` (its value), or None."""
    try:
        with open(path, encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() in names:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_model() -> str | None:
    return cpuinfo_field(("model name",)) or platform.processor() or None


def cpu_flags(text: str | None) -> tuple[str, ...]:
    """The speed-relevant ISA flags in a cpuinfo flags line (x86 'flags', Arm 'Features')."""
    present = set((text or "").split())
    return tuple(flag for flag in CPU_ISA_FLAGS if flag in present)


def cpu_facts() -> CpuFacts:
    flags = cpu_flags(cpuinfo_field(("flags", "Features")))
    try:
        import psutil
    except ImportError:  # a broken install still gets a report
        return CpuFacts(model=cpu_model(), physical_cores=None, logical_cores=os.cpu_count(), ram_bytes=None,
                        flags=flags)
    return CpuFacts(
        model=cpu_model(),
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=psutil.cpu_count(logical=True),
        ram_bytes=psutil.virtual_memory().total,
        flags=flags,
    )


def env_facts(environ: dict[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in sorted(environ.items())
        if key in ENV_VARS or key.startswith(ENV_PREFIXES)
    }


def installed_version(name: str) -> str | None:
    """The installed distribution's version (no import: works when the package is broken)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str]:
    versions = {name: version for name in PACKAGES if (version := installed_version(name)) is not None}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if NVIDIA_PACKAGE.match(name):
            versions[name] = dist.version
    return dict(sorted(versions.items()))


def collect_facts(probes: Probes | None = None) -> Facts:
    """Everything envcheck knows about this machine; never raises for a broken install."""
    probes = probes or Probes()
    torch, torch_error = probes.try_import("torch")
    torchvision, torchvision_error = probes.try_import("torchvision") if torch else (None, None)
    return Facts(
        python=python_facts(),
        system=system_facts(probes),
        cpu=cpu_facts(),
        torch=torch_facts(torch) if torch else None,
        torch_error=first_line(torch_error) if torch_error else None,
        torchvision_version=getattr(torchvision, "__version__", None) or installed_version("torchvision"),
        torchvision_error=first_line(torchvision_error) if torchvision_error else None,
        gpus=gpu_facts(torch) if torch else (),
        nvml=nvml_facts(probes),
        env=env_facts(probes.environ()),
        packages=package_versions(),
    )
