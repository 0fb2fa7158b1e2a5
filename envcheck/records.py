"""Plain records shared by probes, checks and renderers: no I/O, no torch."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

SCHEMA_VERSION = 2  # 2: CPU ISA flags, torch build variant, transformers/peft


class Status(str, enum.Enum):
    """A check's verdict. Ordered by severity for summaries."""

    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One row of envcheck's verdict table.

    ``fix`` is required for WARN and FAIL: a verdict without a way out is not useful.
    """

    name: str
    status: Status
    detail: str
    fix: str | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.status in (Status.WARN, Status.FAIL) and not self.fix:
            raise ValueError(f"check {self.name!r}: a {self.status.value} needs a fix")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
            "duration_s": self.duration_s,
        }


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.PASS, detail)


def warned(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.WARN, detail, fix)


def failed(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, detail, fix)


def skipped(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.SKIP, detail)


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, prefixed by its type."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
