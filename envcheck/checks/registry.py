"""The check framework and its registry: each family module registers its checks here.

Every check runs, whatever the others found; an unexpected exception inside one
becomes a FAIL row for that check. Checks that need torch are SKIP when torch
cannot be imported (that failure is reported once, by the torch check).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from types import ModuleType

from envcheck.facts import Facts
from envcheck.probes import Probes
from envcheck.records import CheckResult, failed, first_line, skipped

DEFAULT_MIN_TORCH = "2.0"


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    min_torch: str = DEFAULT_MIN_TORCH
    require_cuda: bool = False
    quick: bool = False


@dataclasses.dataclass
class CheckContext:
    facts: Facts
    probes: Probes
    options: CheckOptions
    torch: ModuleType | None

    @property
    def devices(self) -> list[str]:
        """cpu, then every CUDA device torch can use."""
        count = self.facts.torch.device_count if self.facts.torch else 0
        return ["cpu"] + [f"cuda:{i}" for i in range(count)]


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[CheckContext], list[CheckResult]]
    slow: bool = False  # skipped by --quick
    needs_torch: bool = True


CHECKS: list[Check] = []  # in registration order, which is the order of the report


def register(name: str, *, slow: bool = False, needs_torch: bool = True):
    """Decorator: add a check function (context -> rows) to the registry under ``name``."""

    def add(run: Callable[[CheckContext], list[CheckResult]]):
        CHECKS.append(Check(name, run, slow, needs_torch))
        return run

    return add


def run_checks(facts: Facts, probes: Probes, options: CheckOptions,
               checks: list[Check] | tuple[Check, ...] | None = None) -> list[CheckResult]:
    """Run every check; never stops at the first failure, never raises."""
    torch = probes.try_import("torch")[0] if facts.torch else None
    ctx = CheckContext(facts=facts, probes=probes, options=options, torch=torch)
    results: list[CheckResult] = []
    for check in CHECKS if checks is None else checks:
        if check.needs_torch and torch is None:
            results.append(skipped(check.name, "torch is not importable"))
            continue
        if check.slow and options.quick:
            results.append(skipped(check.name, "skipped by --quick"))
            continue
        start = time.perf_counter()
        try:
            rows = check.run(ctx)
        except Exception as error:  # noqa: BLE001 - one broken check must not hide the rest
            rows = [failed(check.name, f"check raised {first_line(error)}",
                           "unexpected: re-run `python -m envcheck` and report the JSON (--json)")]
        elapsed = (time.perf_counter() - start) / max(len(rows), 1)
        results.extend(dataclasses.replace(row, duration_s=round(elapsed, 4)) for row in rows)
    return results
