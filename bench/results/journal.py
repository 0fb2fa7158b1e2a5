"""Durable progress: the plan, then each finished run, appended to a journal and fsynced as it finishes.

A `kill -9` of the executor or a reboot loses at most the run that was in progress:
`python -m bench run --resume JOURNAL` runs what is left and writes the report(s). The
journal is JSON lines: a header (the plan) and one line per finished run. A line torn by
a crash mid-write is dropped on resume. It is removed once its reports are written.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from bench.results.records import RunRecord
from envcheck.codec import DecodeError, from_jsonable, to_jsonable

JOURNAL_VERSION = 1
SUFFIX = ".journal"


class JournalError(ValueError):
    """A journal that cannot be resumed; the message names the file."""


@dataclasses.dataclass
class Entry:
    setup: str  # the setup's label
    case: str  # the case key
    record: RunRecord


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

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

    @classmethod
    def open(cls, path: Path, plan_type: type) -> tuple[Journal, Any, list[Entry]]:
        """The journal's plan and finished runs; a torn last line is cut off so appends stay valid."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise JournalError(f"{path}: cannot read ({error.strerror})") from None
        complete = raw[: raw.rfind(b"\n") + 1]
        if len(complete) < len(raw):
            with open(path, "r+b") as handle:
                handle.truncate(len(complete))
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
        except (ValueError, DecodeError) as error:  # JSONDecodeError is a ValueError
            raise JournalError(f"{path}: {error}") from None
        return cls(path), plan, entries


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
