"""Compare reports case by case: ratio, significance on raw round times, environment differences.

Pure computation on report dicts; bench/summary.py renders the result.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bench.cases import Case
from bench.stats_test import mann_whitney_u
from bench.storage import all_cases

ALPHA = 0.05
MIN_SIGNIFICANT_CHANGE = 0.01  # a change under 1 % is never called significant

# (label, path into environment.facts) of what explains a difference in speed.
ENV_FIELDS = (
    ("GPU", lambda f: ", ".join(g["name"] for g in f.get("gpus", [])) or "none"),
    ("driver", lambda f: f.get("nvml", {}).get("driver_version")),
    ("torch", lambda f: (f.get("torch") or {}).get("version")),
    ("CUDA", lambda f: (f.get("torch") or {}).get("cuda_build")),
    ("cuDNN", lambda f: (f.get("torch") or {}).get("cudnn_version")),
    ("torchvision", lambda f: f.get("torchvision_version")),
    ("CPU", lambda f: f.get("cpu", {}).get("model")),
    ("Python", lambda f: f.get("python", {}).get("version")),
)


def case_label(case: dict[str, Any]) -> str:
    """The case's id, from a report's case record: also the key that matches cases across reports."""
    return Case(**case).id


def step_times(record: dict[str, Any]) -> list[float]:
    steps = record.get("steps_per_round") or 1
    return [seconds / steps for seconds in record.get("round_s") or []]


def environment_differences(base: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    base_facts, new_facts = base["torchrig"]["environment"]["facts"], new["torchrig"]["environment"]["facts"]
    diffs = [(label, get(base_facts), get(new_facts)) for label, get in ENV_FIELDS]
    base_device, new_device = base["torchrig"]["run"]["device"], new["torchrig"]["run"]["device"]
    diffs.append(("device", base_device, new_device))
    return [(label, b, n) for label, b, n in diffs if b != n]


@dataclasses.dataclass(frozen=True)
class CaseComparison:
    label: str
    base_status: str
    new_status: str
    base_samples_per_s: float | None
    new_samples_per_s: float | None
    p_value: float | None
    significant: bool

    @property
    def ratio(self) -> float | None:
        if self.base_samples_per_s and self.new_samples_per_s:
            return self.new_samples_per_s / self.base_samples_per_s
        return None

    @property
    def change_pct(self) -> float | None:
        return None if self.ratio is None else (self.ratio - 1) * 100

    @property
    def verdict(self) -> str:
        if self.ratio is None:
            return f"not comparable ({self.base_status} -> {self.new_status})"
        if not self.significant:
            return "same"
        return "faster" if self.ratio > 1 else "slower"


@dataclasses.dataclass(frozen=True)
class Comparison:
    base_name: str
    new_name: str
    environment_differences: list[tuple[str, Any, Any]]
    cases: list[CaseComparison]
    only_base: list[str]
    only_new: list[str]

    def regressions(self, above_pct: float) -> list[CaseComparison]:
        """Significant slowdowns by more than ``above_pct`` percent."""
        return [c for c in self.cases
                if c.verdict == "slower" and c.change_pct is not None and -c.change_pct > above_pct]


def compare_case(base: dict[str, Any], new: dict[str, Any], alpha: float = ALPHA) -> CaseComparison:
    base_ok, new_ok = base["status"] == "ok", new["status"] == "ok"
    p_value, significant = None, False
    if base_ok and new_ok:
        base_times, new_times = step_times(base), step_times(new)
        _, p_value = mann_whitney_u(base_times, new_times)
        ratio = new["samples_per_s"] / base["samples_per_s"]
        significant = p_value < alpha and abs(ratio - 1) >= MIN_SIGNIFICANT_CHANGE
    return CaseComparison(
        label=case_label(base["case"]), base_status=base["status"], new_status=new["status"],
        base_samples_per_s=base.get("samples_per_s") if base_ok else None,
        new_samples_per_s=new.get("samples_per_s") if new_ok else None,
        p_value=p_value, significant=significant,
    )


def compare_reports(base: dict[str, Any], new: dict[str, Any], *, base_name: str = "base",
                    new_name: str = "new", alpha: float = ALPHA) -> Comparison:
    base_cases = {case_label(r["case"]): r for r in all_cases(base)}
    new_cases = {case_label(r["case"]): r for r in all_cases(new)}
    shared = [key for key in base_cases if key in new_cases]
    return Comparison(
        base_name=base_name,
        new_name=new_name,
        environment_differences=environment_differences(base, new),
        cases=[compare_case(base_cases[key], new_cases[key], alpha) for key in shared],
        only_base=[key for key in base_cases if key not in new_cases],
        only_new=[key for key in new_cases if key not in base_cases],
    )
