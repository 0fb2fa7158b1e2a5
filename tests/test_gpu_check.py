"""The GPU proof script: its target arithmetic on synthetic reports, and its CPU fallback."""

from __future__ import annotations

import json

import pytest

from bench.gpu_check import evaluate
from envcheck import snapshot
from tests.conftest import run_module
from tests.reports import record, report


@pytest.fixture(scope="module")
def environment():
    return snapshot()


def cuda(step_s, **fields):
    result = record(step_s, jitter=0.001, device="cuda", **fields)
    result.loss_end = 0.5
    return result


def test_targets_from_reports(environment):
    bs = {"batch_size": 4096}
    quick = report(environment, [
        cuda(4096 / 1.0e6, backend="compile", precision="amp-bf16", **bs),  # 1.0 M images/s
        cuda(64 / 20_000, batch_size=64),  # eager fp32 at 64: 20k images/s
        cuda(64 / 30_000, backend="compile-reduce-overhead", batch_size=64),  # 1.5x
        cuda(0.002, model="mlp-large", precision="amp-bf16", **bs),
        cuda(0.006, precision="amp-fp16", **bs),
        cuda(0.006, precision="tf32", **bs),
    ])
    repeat = report(environment, [cuda(4096 / 1.0e6 * 1.01, backend="compile", precision="amp-bf16", **bs)])
    fastest = report(environment, [cuda(8192 / 1.1e6, backend="compile-max-autotune", precision="amp-bf16",
                                        batch_size=8192, channels_last=True)])
    envcheck = {"counts": {"PASS": 30, "WARN": 1, "FAIL": 0, "SKIP": 2}, "checks": []}
    fidelity = [{"case": "a", "ratio": 1.004}, {"case": "b", "ratio": 0.99}, {"case": "c", "ratio": 1.0}]
    targets = {t.name.split()[0]: t for t in evaluate(quick, fastest, repeat, fidelity, envcheck, 250.0)}
    assert targets["1"].passed
    assert targets["2a"].passed and targets["2a"].measured == "1.000 M images/s"
    assert targets["2b"].passed and targets["2b"].measured == "1.100 M images/s"
    assert targets["3"].passed and targets["3"].measured == "1.50x"
    # mlp-large: 1e9 FLOP per step / 2 ms = 0.5 TFLOP/s against a bf16 ceiling of 2.0: 25 %
    assert targets["4"].passed is False and targets["4"].measured == "25.0 %"
    assert targets["5"].passed
    assert targets["6"].passed and "worst 0.99 %" in targets["6"].measured
    assert targets["7"].passed
    assert targets["8"].passed and "missing: []" in targets["8"].measured


def test_a_loss_that_does_not_fall_misses_target_8(environment):
    stuck = cuda(0.006, precision="tf32", batch_size=4096)
    stuck.loss_end = stuck.loss_start + 0.1
    targets = {t.name.split()[0]: t for t in evaluate(report(environment, [stuck]), None, None, [], None, None)}
    assert targets["8"].passed is False
    assert "not decreasing: ['tf32']" in targets["8"].measured
    assert "'max-autotune'" in targets["8"].measured.split("missing")[1]


def test_missing_measurements_are_not_passes(environment):
    targets = evaluate(report(environment, []), None, None, [], None, None)
    assert all(t.passed is None for t in targets)


@pytest.mark.slow
def test_without_cuda_it_says_so_and_still_writes_envcheck(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = run_module("bench.gpu_check", str(tmp_path))
    assert done.returncode == 1
    assert "gpu-check: no CUDA device here" in done.stdout
    envcheck = json.loads((tmp_path / "envcheck.json").read_text())
    assert any(c["name"] == "cuda" and c["status"] == "FAIL" for c in envcheck["checks"])
    assert "no CUDA device here" in (tmp_path / "gpu-check.log").read_text()
