"""Assemble envcheck's result into one JSON-ready document."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from envcheck.checks import CheckOptions, run_checks
from envcheck.codec import DecodeError, from_jsonable, to_jsonable
from envcheck.facts import Facts, collect_facts
from envcheck.probes import Probes
from envcheck.records import SCHEMA_VERSION, CheckResult, Status
from envcheck.stamps import now_iso

TOOL = "torchrig.envcheck"


@dataclasses.dataclass(frozen=True)
class EnvReport:
    facts: Facts
    checks: tuple[CheckResult, ...]
    options: CheckOptions
    created: str

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(result.status.value for result in self.checks)
        return {status.value: counts.get(status.value, 0) for status in Status}

    @property
    def verdict(self) -> Status:
        statuses = {result.status for result in self.checks}
        for worst in (Status.FAIL, Status.WARN):
            if worst in statuses:
                return worst
        return Status.PASS

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": TOOL,
            "created": self.created,
            "options": to_jsonable(self.options),
            "verdict": self.verdict.value,
            "counts": self.counts,
            "facts": to_jsonable(self.facts),
            "checks": [result.as_dict() for result in self.checks],
        }

    @classmethod
    def from_json(cls, data: Any) -> EnvReport:
        """The inverse of ``as_dict`` (verdict and counts are derived, so they are checked, not trusted);
        DecodeError naming the first problem."""
        if not isinstance(data, dict) or data.get("tool") != TOOL:
            raise DecodeError(f"not an envcheck report (expected 'tool' = {TOOL!r})")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise DecodeError(f"schema_version {data.get('schema_version')!r} is not supported "
                              f"(this torchrig reads {SCHEMA_VERSION})")
        missing = [key for key in ("created", "options", "verdict", "counts", "facts", "checks") if key not in data]
        if missing:
            raise DecodeError(f"$: missing field {missing[0]!r}")
        report = cls(facts=from_jsonable(Facts, data["facts"], "$.facts"),
                     checks=tuple(from_jsonable(list[CheckResult], data["checks"], "$.checks")),
                     options=from_jsonable(CheckOptions, data["options"], "$.options"),
                     created=from_jsonable(str, data["created"], "$.created"))
        if data["verdict"] != report.verdict.value:
            raise DecodeError(f"$.verdict: {data['verdict']!r} does not follow from its checks "
                              f"({report.verdict.value})")
        return report



def build_report(options: CheckOptions | None = None, probes: Probes | None = None,
                 only: tuple[str, ...] | None = None) -> EnvReport:
    """Every registered check, or those named in ``only`` (validate's tiers run a short list; KeyError on a name
    no check has)."""
    from envcheck.checks import CHECKS

    probes = probes or Probes()
    options = options or CheckOptions()
    facts = collect_facts(probes)
    chosen = None
    if only is not None:
        known = {check.name: check for check in CHECKS}
        chosen = [known[name] for name in only]
    checks = run_checks(facts, probes, options, chosen)
    return EnvReport(facts=facts, checks=tuple(checks), options=options, created=now_iso())


@dataclasses.dataclass(frozen=True)
class Environment:
    """What every bench report embeds: envcheck's facts, versioned (no checks run)."""

    schema_version: int
    created: str
    facts: Facts

    def __post_init__(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"environment schema_version {self.schema_version} is not {SCHEMA_VERSION}")


def snapshot(probes: Probes | None = None) -> Environment:
    return Environment(SCHEMA_VERSION, now_iso(), collect_facts(probes))
