"""What a device computes natively: precisions, their dtypes, and TF32 switching. No torch import here.

One home for the knowledge that bench (which cases run, in which dtype) and envcheck
(what to report and sweep) share. A precision a device runs only by emulation (bf16 on
a CPU without AVX512-BF16 or AMX runs at ~1 % of fp32) is not native: benchmark suites
skip it, and a case asked for explicitly is flagged (docs/measurement.md, rule 12).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping


@dataclasses.dataclass(frozen=True)
class Precision:
    name: str  # as cases name it: fp32, tf32, amp-bf16, amp-fp16
    dtype: str  # torch dtype its matmuls run in
    short: str  # the dtype label envcheck prints: fp32, tf32, bf16, fp16
    autocast: bool = False
    tf32: bool = False


PRECISIONS: dict[str, Precision] = {p.name: p for p in (
    Precision("fp32", "float32", "fp32"),
    Precision("tf32", "float32", "tf32", tf32=True),
    Precision("amp-bf16", "bfloat16", "bf16", autocast=True),
    Precision("amp-fp16", "float16", "fp16", autocast=True),
)}

# CPU flags (/proc/cpuinfo) that make a dtype native, x86 and Arm.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
CPU_FP16_FLAGS = ("avx512_fp16", "amx_fp16", "fphp")
# Flags recorded in facts and fingerprints: what decides CPU speed of these workloads.
CPU_ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                 "amx_tile", "amx_bf16", "amx_int8", "amx_fp16", "asimd", "sve", "sve2", "bf16", "fphp")
# oneDNN's ONEDNN_MAX_CPU_ISA values below which its bf16 kernels are emulated (measured on an
# AMX machine: AVX512_CORE gave 55 GFLOP/s and AVX2 0.9 GFLOP/s for a bf16 matmul, against 1,130 native).
ONEDNN_ISAS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")
MIN_CAPABILITY = {"tf32": (8, 0), "bf16": (8, 0), "fp8": (8, 9)}  # Ampere, Ampere, Ada/Hopper


def torch_dtype(torch, precision: str):
    """The torch dtype a precision's matmuls run in."""
    return getattr(torch, PRECISIONS[precision].dtype)


@dataclasses.dataclass(frozen=True)
class Support:
    runs: bool  # the device can run it at all
    native: bool  # in hardware, not by emulation
    reason: str  # why not, or what makes it native


@dataclasses.dataclass(frozen=True)
class DeviceCapabilities:
    """What one device computes natively."""

    kind: str  # cpu or cuda
    cuda_capability: tuple[int, int] | None = None
    cpu_flags: frozenset[str] = frozenset()
    onednn_max_isa: str | None = None  # ONEDNN_MAX_CPU_ISA, which caps the CPU kernels oneDNN uses

    def _cpu_native(self, flags: Iterable[str]) -> str | None:
        found = [flag for flag in flags if flag in self.cpu_flags]
        return found[0] if found else None

    def support(self, precision: str) -> Support:
        short = PRECISIONS[precision].short
        if self.kind == "cuda":
            return self._cuda_support(precision, short)
        if precision == "tf32":
            return Support(False, False, "TF32 is a CUDA (Ampere and newer) matmul mode")
        if precision == "amp-fp16":
            return Support(False, False, "amp-fp16 with GradScaler is a CUDA mode; the CPU autocasts to bf16")
        if precision == "amp-bf16":
            return self._cpu_bf16()
        return Support(True, True, "fp32")

    def _cpu_bf16(self) -> Support:
        flag = self._cpu_native(CPU_BF16_FLAGS)
        if flag is None:
            return Support(True, False, "bf16 is emulated on this CPU (no avx512_bf16, amx_bf16 or Arm bf16): "
                                        "a bf16 matmul runs at a few % of fp32")
        isa = (self.onednn_max_isa or "").upper()
        if isa in ONEDNN_ISAS_WITHOUT_BF16:
            return Support(True, False, f"bf16 is emulated: ONEDNN_MAX_CPU_ISA={isa} keeps oneDNN below its "
                                        f"bf16 kernels although the CPU has {flag}")
        return Support(True, True, f"bf16 native ({flag})")

    def _cuda_support(self, precision: str, short: str) -> Support:
        capability = self.cuda_capability or (0, 0)
        needed = MIN_CAPABILITY.get(short)
        if needed and capability < needed:
            return Support(False, False, f"{precision} needs compute capability >= {needed[0]}.{needed[1]} "
                                         f"(this GPU is {capability[0]}.{capability[1]})")
        return Support(True, True, f"{short} native (compute capability {capability[0]}.{capability[1]})")

    def native_summary(self) -> dict[str, bool]:
        """dtype label -> native on this device, for envcheck's table (fp8 only on CUDA)."""
        if self.kind == "cuda":
            capability = self.cuda_capability or (0, 0)
            return {"tf32": capability >= MIN_CAPABILITY["tf32"], "bf16": capability >= MIN_CAPABILITY["bf16"],
                    "fp16": True, "fp8": capability >= MIN_CAPABILITY["fp8"]}
        return {"bf16": self._cpu_bf16().native, "fp16": self._cpu_native(CPU_FP16_FLAGS) is not None}


def cpu_capabilities(flags: Iterable[str], environ: Mapping[str, str]) -> DeviceCapabilities:
    return DeviceCapabilities("cpu", cpu_flags=frozenset(flags), onednn_max_isa=environ.get("ONEDNN_MAX_CPU_ISA"))


def cuda_capabilities(capability: tuple[int, int] | None) -> DeviceCapabilities:
    return DeviceCapabilities("cuda", cuda_capability=tuple(capability) if capability else None)


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 for CUDA matmuls and cuDNN convolutions inside the block; the previous state after it.

    PyTorch's defaults are matmul TF32 off and cuDNN TF32 on; bench's fp32 cases turn both off
    (true fp32), its tf32 cases both on.
    """
    import torch

    backends = torch.backends
    saved = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32)
    backends.cuda.matmul.allow_tf32 = backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32 = saved
