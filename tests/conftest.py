"""Shared fixtures. CUDA-only tests carry @pytest.mark.cuda and skip without a GPU.

Unit tests (tests/unit) run in this process on stored fixtures and synthetic reports;
integration tests (tests/integration) start real processes: the CLI, workers, torchrun.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Runs fork from a server in tests (2.8 s less per run on the 2-core VM): they check behaviour, not levels, and
# tests/integration/test_forkserver.py checks both ways of starting a worker. Users' runs start fresh interpreters.
os.environ.setdefault("TORCHRIG_FORKSERVER", "1")
# Timing rules small enough to exercise every path in a second or two per run (not to measure).
FAST = ["--min-round-s", "0.01", "--warmup-max-s", "0", "--rounds", "5", "--ceilings", "fp32=0.3,amp-bf16=1.0"]


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


def assert_usage_error(done, message: str) -> None:
    """Bad input: exit 2 and exactly one line on stderr, naming what was expected."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr + done.stdout[-2000:]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stdout


def usage_error(main, argv: list[str], capsys) -> str:
    """Run a CLI's main in this process; assert exit 2 with one line on stderr; return the line."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Measured ceilings go to a test folder, never the user's ~/.cache."""
    monkeypatch.setenv("TORCHRIG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    # and results go to a test database, never the checkout's results/torchrig.db
    monkeypatch.setenv("TORCHRIG_DB", str(tmp_path_factory.getbasetemp() / "torchrig-tests.db"))
