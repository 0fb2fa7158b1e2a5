"""Durable progress: the plan, then each finished run, appended to a journal and fsynced as it finishes.

A `kill -9` of the executor or a reboot loses at most the run that was in progress:
`python -m bench run --resume JOURNAL` runs what is left and writes the report(s). The
journal is JSON lines: a header (the plan) and one line per finished run. A line torn by
a crash mid-write is dropped on resume. It is removed once its reports are written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import stat
from pathlib import Path
from typing import Any

from bench.results.records import RunRecord
from envcheck.codec import DecodeError, from_jsonable, to_jsonable

JOURNAL_VERSION = 2  # 2: the plan names its invocation_id (1: no id, or run_id)
SUFFIX = ".journal"


class JournalError(ValueError):
    """A journal that cannot be resumed; the message names the file."""


@dataclasses.dataclass
class Entry:
    setup: str  # the setup's label
    case: str  # the case key
    record: RunRecord


class JournalBusy(JournalError):
    """Another process holds the journal's lock (it is running or resuming it)."""


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_fd: int | None = None

    @property
    def holder_file(self) -> Path:
        """Beside the journal (its real path): the PID of the process holding its lock, for the message."""
        real = Path(os.path.realpath(self.path))
        return real.with_name(real.name + ".lock")

    def lock(self, fd: int | None = None) -> None:
        """An exclusive lock (flock) on the journal for as long as this run uses it; JournalBusy, naming
        the holder's PID, when another run or resume holds it."""
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC) if fd is None else os.dup(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            try:
                holder = "PID " + self.holder_file.read_text(encoding="utf-8").strip()[:20]
            except OSError:
                holder = "a process that left no PID"
            raise JournalBusy(f"{self.path}: in use by another torchrig run ({holder}); wait for it to end or "
                              "stop it, then resume") from None
        self.lock_fd = fd
        with contextlib.suppress(OSError):  # the PID is for the message only; the lock is the flock
            self.holder_file.write_text(f"{os.getpid()}\n", encoding="utf-8")

    def release(self) -> None:
        if self.lock_fd is None:
            return
        with contextlib.suppress(OSError):
            self.holder_file.unlink(missing_ok=True)
        os.close(self.lock_fd)
        self.lock_fd = None

    @classmethod
    def create(cls, path: Path, header: Any) -> Journal:
        journal = cls(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(json.dumps({"journal": JOURNAL_VERSION, "plan": to_jsonable(header)}, allow_nan=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        fsync_dir(path.parent)
        return journal

    def append(self, entry: Entry) -> None:
        """One line per finished run, on disk before the next run starts (OSError if the disk is full)."""
        line = json.dumps(to_jsonable(entry), allow_nan=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.release()

    @classmethod
    def open(cls, path: Path, plan_type: type, lock: bool = False) -> tuple[Journal, Any, list[Entry]]:
        """The journal's plan and finished runs. The whole file is proven this tool's journal first (header,
        plan, every complete line); only then is a torn last line cut off, so that appends stay valid. The
        file is read and cut through one descriptor: what is cut is the file that was checked, also
        through a symlink. Nothing is written to a file that fails (JournalError). With ``lock`` the journal
        is locked first (JournalBusy): a second resume of it neither cuts nor runs anything."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as error:
            raise JournalError(f"{path}: cannot open for reading and appending ({error.strerror})") from None
        journal = cls(path)
        with os.fdopen(fd, "r+b") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise JournalError(f"{path}: not a regular file; expected a torchrig run journal")
            if lock:
                journal.lock(fd)
            try:
                raw = handle.read()
                complete = raw[: raw.rfind(b"\n") + 1]
                plan, entries = cls.parse(path, complete, plan_type)
                if len(complete) < len(raw):
                    handle.truncate(len(complete))
            except BaseException:
                journal.release()
                raise
        return journal, plan, entries

    @staticmethod
    def parse(path: Path, complete: bytes, plan_type: type) -> tuple[Any, list[Entry]]:
        lines = complete.decode("utf-8", errors="replace").splitlines()
        if not lines:
            raise JournalError(f"{path}: empty; expected a torchrig run journal")
        try:
            header = json.loads(lines[0])
            if not isinstance(header, dict) or header.get("journal") != JOURNAL_VERSION:
                raise DecodeError(f"not a torchrig run journal of version {JOURNAL_VERSION}")
            plan = from_jsonable(plan_type, header.get("plan"), "$.plan")
            entries = [from_jsonable(Entry, json.loads(line), f"line {number}")
                       for number, line in enumerate(lines[1:], 2)]
        except (ValueError, DecodeError, RecursionError) as error:  # JSONDecodeError is a ValueError
            raise JournalError(f"{path}: {error}") from None
        return plan, entries


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
