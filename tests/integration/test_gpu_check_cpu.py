"""The GPU proof script's path on a machine without CUDA."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_module


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
