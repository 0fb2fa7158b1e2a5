"""The work folder of a run (fine-tune checkpoints, each case's inductor cache, the workers' files), and the
proof that it is ours: a marker file holding the run's id, written when the folder is made.

A journal names its work folder, and a journal is a file anyone can edit or hand over: the folder is
used on ``--resume`` and removed when the run completes only when its marker holds the journal's run id.
A folder that exists without that marker is someone else's: refused before anything runs, never removed.
A folder that is gone (a reboot emptied /tmp) is replaced by a fresh one; what it held was a cache.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

MARKER = ".torchrig-work"
TOOL = "torchrig.bench"
PREFIX = "torchrig-run-"


class WorkDirError(ValueError):
    """A work folder that is not this run's: the message names it and the way out."""


def create(invocation_id: str) -> Path:
    """A new temporary work folder, marked as this run's."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    fd = os.open(folder / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"tool": TOOL, "invocation": invocation_id}, handle)
    return folder


def is_ours(folder: Path, invocation_id: str) -> bool:
    """``folder`` is a real folder (no symlink) whose marker (a regular file) holds ``invocation_id``."""
    folder = Path(folder)
    if not invocation_id or folder.is_symlink() or not folder.is_dir():
        return False
    try:
        fd = os.open(folder / MARKER, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        marker = json.loads(os.read(fd, 4096).decode("utf-8"))
    except (OSError, ValueError):
        return False
    finally:
        os.close(fd)
    return isinstance(marker, dict) and marker.get("tool") == TOOL and marker.get("invocation") == invocation_id


def for_resume(folder: str, invocation_id: str, journal: Path) -> Path:
    """The folder to resume in: the journal's own, or a fresh one where it is gone; WorkDirError when the
    journal names a folder that exists and is not its run's (it would be written into, then removed)."""
    path = Path(folder)
    if not os.path.lexists(path):
        return create(invocation_id)
    if is_ours(path, invocation_id):
        return path
    raise WorkDirError(f"{journal}: its work folder {path} exists but is not this invocation's (no {MARKER} "
                       "marker with the journal's invocation id); refusing to use or remove it: move that folder "
                       "away to resume in a fresh one")


def remove_if_ours(folder: str | Path, invocation_id: str) -> bool:
    """Remove a finished run's work folder, only if its marker holds ``invocation_id``."""
    if not is_ours(Path(folder), invocation_id):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True
