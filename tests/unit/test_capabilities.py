"""Native precisions by CPU flags and GPU capability (rule 12), and hardware fingerprints (rule 13)."""

from __future__ import annotations

import dataclasses

import pytest

from envcheck.capabilities import cpu_capabilities, cuda_capabilities, tf32
from envcheck.facts import cpu_flags
from envcheck.fingerprint import hardware_fingerprint
from tests.reports import ENVIRONMENT

AVX2 = ("avx", "avx2", "fma")
AMX = (*AVX2, "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


@pytest.mark.parametrize(("flags", "environ", "native"), [
    (AVX2, {}, False),
    (AMX, {}, True),
    ((*AVX2, "avx512f", "avx512_bf16"), {}, True),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, False),  # measured: 0.9 GFLOP/s bf16 against 1,130 native
    (AMX, {"ONEDNN_MAX_CPU_ISA": "avx512_core"}, False),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, True),
    (("asimd", "bf16"), {}, True),  # Arm
])
def test_cpu_bf16_is_native_only_with_the_isa_and_onednn_allowing_it(flags, environ, native):
    support = cpu_capabilities(flags, environ).support("amp-bf16")
    assert support.runs and support.native is native
    if not native:
        assert "emulated" in support.reason


def test_cpu_cannot_run_cuda_precisions():
    caps = cpu_capabilities(AMX, {})
    assert not caps.support("tf32").runs and "CUDA" in caps.support("tf32").reason
    assert not caps.support("amp-fp16").runs
    assert caps.support("fp32").native


@pytest.mark.parametrize(("capability", "precision", "runs"), [
    ((7, 0), "amp-bf16", False), ((7, 0), "tf32", False), ((8, 0), "tf32", True), ((9, 0), "amp-bf16", True),
    ((7, 0), "amp-fp16", True),
])
def test_cuda_support_by_compute_capability(capability, precision, runs):
    support = cuda_capabilities(capability).support(precision)
    assert support.runs is runs
    assert cuda_capabilities(capability).native_summary()["fp8"] is (capability >= (8, 9))


def test_cpu_flags_keep_only_speed_relevant_isa():
    line = "fpu vme sse sse2 avx avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile hypervisor"
    assert cpu_flags(line) == ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
    assert cpu_flags(None) == ()


def test_tf32_context_restores_the_previous_state():
    import torch

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with tf32(True):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def with_cpu(**changes):
    facts = ENVIRONMENT.facts
    return dataclasses.replace(facts, cpu=dataclasses.replace(facts.cpu, **changes))


def test_fingerprint_tells_apart_machines_that_share_a_cpu_name():
    same_name_avx2 = with_cpu(flags=AVX2)
    base, other = hardware_fingerprint(ENVIRONMENT.facts, "cpu"), hardware_fingerprint(same_name_avx2, "cpu")
    assert base.name == other.name == "cpu-intel-r-xeon-r-processor"  # the old key could not tell them apart
    assert base.id != other.id
    assert [field for field, _, _ in base.differences(other)] == ["isa"]
    assert hardware_fingerprint(with_cpu(logical_cores=64), "cpu").differences(base)[0][0] == "cores"
    assert hardware_fingerprint(ENVIRONMENT.facts, "cpu").id == base.id  # stable
    capped = dataclasses.replace(ENVIRONMENT.facts, env={"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert hardware_fingerprint(capped, "cpu").id != base.id


def test_fingerprint_ignores_software():
    import dataclasses as dc

    newer = dc.replace(ENVIRONMENT.facts, torch=dc.replace(ENVIRONMENT.facts.torch, version="2.99.0"))
    assert hardware_fingerprint(newer, "cpu").id == hardware_fingerprint(ENVIRONMENT.facts, "cpu").id
