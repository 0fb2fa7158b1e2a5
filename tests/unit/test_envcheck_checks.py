"""envcheck's checks with faked probes: broken installs become verdicts, never crashes."""

from __future__ import annotations

import dataclasses
import importlib

import pytest
import torch

from envcheck.checks import Check, CheckContext, CheckOptions, run_checks
from envcheck.checks.compiler import compile_on
from envcheck.checks.install import check_torchvision, expected_torchvision, parse_version, torchvision_fix
from envcheck.checks.numerics import numerics_ops, sweep_one
from envcheck.facts import collect_facts
from envcheck.probes import Probes
from envcheck.records import CheckResult, Status
from envcheck.report import build_report
from tests.fake_nvml import fake_nvml, nvml_error

NO_NVML = lambda: fake_nvml(nvmlInit=nvml_error("NVML_ERROR_LIBRARY_NOT_FOUND"))  # noqa: E731


def failing_import(broken: dict[str, BaseException]):
    def import_module(name: str):
        if name in broken:
            raise broken[name]
        return importlib.import_module(name)
    return import_module


def quick_results(probes: Probes, **options) -> dict[str, CheckResult]:
    facts = collect_facts(probes)
    results = run_checks(facts, probes, CheckOptions(quick=True, **options))
    return {result.name: result for result in results}


@pytest.fixture
def probes() -> Probes:
    return Probes(nvml=NO_NVML, sleep=lambda seconds: None)


def test_version_helpers():
    assert parse_version("2.14.1+cu130") == (2, 14, 1)
    assert parse_version("2.0.0a0") == (2, 0, 0)
    assert expected_torchvision("2.14.1+cu130") == "0.29"
    assert expected_torchvision("2.0.1") == "0.15"
    assert expected_torchvision("1.13.1") is None


def test_warn_and_fail_need_a_fix():
    with pytest.raises(ValueError, match="needs a fix"):
        CheckResult("x", Status.FAIL, "broken")


def test_healthy_cpu_install_quick(probes):
    results = quick_results(probes)
    for name in ("python", "torch", "torchvision", "autograd", "amp cpu bf16", "dataloader workers",
                 "distributed gloo"):
        assert results[name].status is Status.PASS, results[name]
    assert results["compile"].status is Status.SKIP and "--quick" in results["compile"].detail
    assert results["numerics"].status is Status.SKIP


def test_torchvision_without_its_operators_is_fail_with_fix(probes):
    probes.import_module = failing_import(
        {"torchvision": RuntimeError("operator torchvision::nms does not exist")})
    result = quick_results(probes)["torchvision"]
    assert result.status is Status.FAIL
    assert "operator torchvision::nms does not exist" in result.detail
    assert f"torchvision=={expected_torchvision(torch.__version__)}.*" in result.fix


def test_torchvision_built_for_another_torch_is_fail(probes):
    facts = dataclasses.replace(collect_facts(probes), torchvision_version="0.15.2")
    (result,) = check_torchvision(CheckContext(facts, probes, CheckOptions(), torch))
    assert result.status is Status.FAIL
    assert "not the one built for" in result.detail


def test_torch_import_failure_is_one_fail_and_the_rest_skip(probes):
    probes.import_module = failing_import({"torch": OSError("libcudart.so.13: cannot open shared object file")})
    results = quick_results(probes)
    assert results["torch"].status is Status.FAIL
    assert "libcudart" in results["torch"].detail and "pip install" in results["torch"].fix
    assert results["python"].status is Status.PASS
    for name in ("torchvision", "cuda", "amp", "dataloader", "compile"):
        assert results[name].status is Status.SKIP
        assert results[name].detail == "torch is not importable"


def test_old_torch_fails_against_min_torch(probes):
    result = quick_results(probes, min_torch="99.0")["torch"]
    assert result.status is Status.FAIL and "older than 99.0" in result.detail


def test_small_shared_memory_is_fail_with_shm_fix(probes):
    probes.shm_free_bytes = lambda: 64 * 2**20
    result = quick_results(probes)["dataloader workers"]
    assert result.status is Status.FAIL
    assert "64 MiB" in result.detail and "--shm-size" in result.fix


def test_require_cuda_without_gpu_fails(probes):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert quick_results(probes)["cuda"].status is Status.SKIP
    result = quick_results(probes, require_cuda=True)["cuda"]
    assert result.status is Status.FAIL and "CUDA_VISIBLE_DEVICES" in result.fix


def test_gpus_seen_by_nvml_but_not_torch_is_fail(probes):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    probes.nvml = lambda: fake_nvml(nvmlDeviceGetCount=2)
    result = quick_results(probes)["cuda"]
    assert result.status is Status.FAIL
    assert "NVML sees 2 GPU(s)" in result.detail and "driver" in result.fix


def test_a_check_that_raises_becomes_a_fail_row_and_the_rest_run(probes):
    def explode(ctx):
        raise ZeroDivisionError("boom")

    from envcheck.checks.install import check_python

    table = (Check("explodes", explode), Check("python", check_python, needs_torch=False))
    results = run_checks(collect_facts(probes), probes, CheckOptions(), table)
    assert [(r.name, r.status) for r in results] == [("explodes", Status.FAIL), ("python", Status.PASS)]
    assert "ZeroDivisionError: boom" in results[0].detail


def test_compile_failure_reports_first_line_and_compiler_fix(monkeypatch):
    def broken_compile(model, **kwargs):
        raise RuntimeError("InductorError: CppCompileError: C++ compile error\nlong log ...")

    monkeypatch.setattr(torch, "compile", broken_compile)
    result = compile_on(torch, "cpu")
    assert result.status is Status.FAIL
    assert result.detail == "torch.compile failed: RuntimeError: InductorError: CppCompileError: C++ compile error"
    assert "g++" in result.fix


@pytest.mark.parametrize("noise", [0.0, 1e-2])
def test_numerics_sweep_flags_wrong_results(noise):
    ops = numerics_ops(torch)
    inputs, matmul = ops["matmul"]

    def noisy(a, b):  # perturbs every dtype but the float64 reference
        out = matmul(a, b)
        return out if a.dtype == torch.float64 else out * (1 + noise)

    result = sweep_one(torch, "cpu", "matmul", inputs, noisy, {"fp32": "fp32", "bf16": "amp-bf16"})
    expected = Status.PASS if noise == 0 else Status.FAIL
    assert result.status is expected, result.detail
    if noise:
        assert "fp32" in result.detail and "outside bounds" in result.detail


def test_numerics_bounds_hold_on_this_cpu():
    for op_name, (inputs, op) in numerics_ops(torch).items():
        result = sweep_one(torch, "cpu", op_name, inputs, op, {"fp32": "fp32", "bf16": "amp-bf16", "fp16": "amp-fp16"})
        assert result.status is Status.PASS, result.detail
        assert "fp32" in result.detail and "bf16" in result.detail


def test_report_counts_and_verdict(probes):
    probes.shm_free_bytes = lambda: 1
    report = build_report(CheckOptions(quick=True), probes)
    assert report.verdict is Status.FAIL
    assert report.counts["FAIL"] == 1
    assert sum(report.counts.values()) == len(report.checks)


@pytest.mark.cuda
def test_cuda_checks_pass_on_a_healthy_gpu():
    probes = Probes()
    results = quick_results(probes, require_cuda=True)
    for name, result in results.items():
        if name.startswith(("cuda", "cudnn", "precision cuda", "amp cuda", "sdpa cuda")):
            assert result.status is Status.PASS, result


def test_render_prints_bracketed_details_verbatim(probes):
    from io import StringIO

    from rich.console import Console

    from envcheck.render import render

    probes.import_module = failing_import({"torchvision": RuntimeError("[/src/ops.cpp:12] nms missing [x]")})
    report = build_report(CheckOptions(quick=True), probes)
    out = StringIO()
    render(report, Console(file=out, width=400))
    assert "[/src/ops.cpp:12] nms missing [x]" in out.getvalue()


def test_a_cpu_torch_beside_a_cuda_torchvision_gets_a_fix_that_changes_something():
    fix = torchvision_fix("2.13.0+cpu", None, "0.28.0")
    assert fix.startswith("torch 2.13.0+cpu is a CPU build but torchvision 0.28.0 is a CUDA build (PyPI's default")
    assert "--index-url https://download.pytorch.org/whl/cpu" in fix and "--force-reinstall" in fix
    assert "'torchvision==0.28.*'" in fix
    mismatch = torchvision_fix("2.14.1+cu130", "13.0", "0.26.0+cu130")
    assert "'torchvision==0.29.*'" in mismatch and "whl/cu130" in mismatch


def test_the_llm_extra_is_reported(probes):
    results = quick_results(probes)
    assert results["llm extra"].status in (Status.PASS, Status.SKIP)
    if results["llm extra"].status is Status.SKIP:
        assert "pip install -e '.[llm]'" in results["llm extra"].detail
    else:
        assert "transformers" in results["llm extra"].detail


def test_native_precision_is_reported_per_device(probes):
    row = quick_results(probes)["precision cpu"]
    assert row.status is Status.PASS and "bf16" in row.detail and "fp32 native" in row.detail


def test_a_busy_machine_is_a_warning(probes):
    import types

    class Busy:
        """psutil with another process taking a whole core."""
        Error = Exception
        calls = 0

        def cpu_times(self, percpu=False):
            Busy.calls += 1
            return [types.SimpleNamespace(user=Busy.calls * 100.0, nice=0, system=0, irq=0, softirq=0, steal=0)]

        def Process(self, pid):  # noqa: N802
            return types.SimpleNamespace(cpu_times=lambda: types.SimpleNamespace(user=0.0, system=0.0),
                                         children=lambda recursive=True: [])

        def cpu_freq(self):
            return None

    probes.psutil = Busy
    row = quick_results(probes)["machine load"]
    assert row.status is Status.WARN and "other processes used" in row.detail and "stop other jobs" in row.fix
