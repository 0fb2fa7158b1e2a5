"""Injectable access to the outside world: imports, commands, NVML, shared memory.

Every probe a check or a fact needs goes through :class:`Probes`, so tests replace
one attribute to fake a broken install (a torchvision without its operators, an
NVML that answers NotSupported, a tiny /dev/shm) without monkeypatching modules.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from types import ModuleType

COMMAND_TIMEOUT_S = 10.0


def run_command(argv: Sequence[str], timeout_s: float = COMMAND_TIMEOUT_S) -> str | None:
    """Run ``argv`` (never through a shell); its stdout, or None if it cannot run or fails."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def shm_free_bytes(path: str = "/dev/shm") -> int | None:
    """Free bytes in the shared-memory filesystem DataLoader workers use, or None."""
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def import_nvml() -> ModuleType:
    """The NVML bindings (package nvidia-ml-py, module pynvml)."""
    return importlib.import_module("pynvml")


def import_psutil() -> ModuleType:
    return importlib.import_module("psutil")


@dataclasses.dataclass
class Probes:
    """The world as envcheck sees it; replace a field to fake it in tests."""

    import_module: Callable[[str], ModuleType] = importlib.import_module
    run_command: Callable[[Sequence[str]], str | None] = run_command
    nvml: Callable[[], ModuleType] = import_nvml
    psutil: Callable[[], ModuleType] = import_psutil
    sleep: Callable[[float], None] = time.sleep  # how checks that sample over time wait
    shm_free_bytes: Callable[[], int | None] = shm_free_bytes
    environ: Callable[[], dict[str, str]] = lambda: dict(os.environ)

    def try_import(self, name: str) -> tuple[ModuleType | None, BaseException | None]:
        """Import ``name``; a broken install gives (None, error), never an exception.

        A broken torch can fail with OSError (missing shared library) or
        RuntimeError (torchvision built for another torch), not only ImportError.
        """
        try:
            return self.import_module(name), None
        except Exception as error:  # noqa: BLE001 - any import failure is a finding
            return None, error
