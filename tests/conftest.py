"""Shared fixtures. CUDA-only tests carry @pytest.mark.cuda and skip without a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def run_module(*args: str, env: dict | None = None, timeout: float = 600, cwd: Path = ROOT):
    """Run `python -m ...` from the repository root; returns the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=full_env, check=False)


def load_schema(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def assert_usage_error(done: subprocess.CompletedProcess, message: str) -> None:
    """Bad input: exit 2 and exactly one line on stderr, naming what was expected."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and message in lines[0], done.stderr
