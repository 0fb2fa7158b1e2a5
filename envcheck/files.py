"""Files the tools write: atomically, never over something that is not their own, checked up front.

A file is either complete on disk or not there at all (temporary file, fsync, rename).
An existing file is replaced only when it is the same tool's output of the same kind;
anything else (a bench report where an envcheck JSON was asked for, a user's own
summary.md) is refused with a message, so that nothing already written is lost.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

MIN_FREE_BYTES = 16 * 2**20  # less than this is a full disk for a run's reports and journal


class OutputError(Exception):
    """An output that cannot or must not be written; the message is one line with the way out."""


def describe(error: OSError) -> str:
    """One line for an OSError, naming full disks and read-only filesystems plainly."""
    if error.errno == errno.ENOSPC:
        return "the disk is full"
    if error.errno == errno.EROFS:
        return "the filesystem is read-only"
    if error.errno in (errno.ENOTDIR, errno.EEXIST) and error.filename:
        return f"{error.filename} is a file, not a folder"
    return error.strerror or str(error)


def write_atomic(path: Path, data: bytes | str, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    With ``overwrite=False`` an existing file is never replaced (FileExistsError).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails with FileExistsError instead of replacing
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def inside(parent: Path, *names: str) -> Path:
    """``parent / names...``, refused (OutputError) unless it stays inside ``parent``: a name taken from
    input ('../../evil', '/etc', a symlink's target) must not place files elsewhere."""
    parent = Path(parent)
    path = parent.joinpath(*names)
    base = os.path.realpath(parent)
    if any(not name or Path(name).is_absolute() for name in names) or \
            os.path.commonpath([base, os.path.realpath(path)]) != base or path == parent:
        raise OutputError(f"{path} is not inside {parent}; expected plain names ({', '.join(map(repr, names))})")
    return path


def json_text(data: Any) -> str:
    """Strict JSON (no NaN or Infinity), indented, newline-terminated."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def write_json_atomic(path: Path, data: Any, *, overwrite: bool = True) -> Path:
    return write_atomic(path, json_text(data), overwrite=overwrite)


def json_tool(path: Path) -> str | None:
    """The ``tool`` field of a JSON file (a torchrig output names its tool), or None."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    tool = data.get("tool") if isinstance(data, dict) else None
    if tool is None and isinstance(data, dict) and isinstance(data.get("torchrig"), dict):
        tool = data["torchrig"].get("tool")  # bench reports keep it under "torchrig"
    return tool if isinstance(tool, str) else None


def replace_own_json(path: Path, data: Any, tool: str) -> Path:
    """Write ``data``; an existing file is replaced only if it is ``tool``'s own output."""
    check_output_file(path, lambda existing: json_tool(existing) == tool, f"a {tool} JSON file")
    try:
        return write_json_atomic(path, data)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {describe(error)}") from None


def check_output_dir(folder: Path, min_free_bytes: int = MIN_FREE_BYTES) -> Path:
    """Create ``folder`` if needed and prove it takes a file; OutputError (one line) otherwise."""
    folder = Path(folder)
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{folder}: {parent} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".torchrig-probe-") as probe:
            probe.write(b"x")
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(folder).free
    except OSError as error:
        raise OutputError(f"{folder} is not writable: {describe(error)}") from None
    if free < min_free_bytes:
        raise OutputError(f"{folder}: only {free // 1024} KiB free on its disk "
                          f"(need {min_free_bytes // 2**20} MiB for reports and the journal)")
    return folder


def check_output_file(path: Path, is_own, kind: str) -> Path:
    """Before any work: ``path`` can take a file and holds none that is not ours (``is_own(path)``)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; expected a file path for the {kind}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{path}: {parent} is a file, not a folder")
            break
    if path.exists() and not is_own(path):
        found = json_tool(path)
        what = f" (it is a {found} file)" if found else ""
        raise OutputError(f"{path} exists and is not {kind}{what}; refusing to overwrite it (choose another path)")
    return path
