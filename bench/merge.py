"""Merge reports from many machines and environments into one table of cases x reports."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bench.compare import case_label
from bench.storage import all_cases, load_report


@dataclasses.dataclass(frozen=True)
class Labelled:
    label: str
    path: Path
    report: dict[str, Any]


def report_label(report: dict[str, Any]) -> str:
    """The run's --label, else '<machine-id> torch <version>'."""
    run = report["torchrig"]["run"]
    if run.get("label"):
        return run["label"]
    torch = (report["torchrig"]["environment"]["facts"].get("torch") or {}).get("version", "?")
    return f"{report['machine_info']['torchrig']['machine_id']} torch {torch}"


def load_labelled(paths: list[Path]) -> list[Labelled]:
    """Load reports (ReportError on a bad one); duplicate labels get a numeric suffix."""
    labelled, seen = [], {}
    for path in paths:
        report = load_report(path)
        label = report_label(report)
        seen[label] = seen.get(label, 0) + 1
        labelled.append(Labelled(label if seen[label] == 1 else f"{label} #{seen[label]}", Path(path), report))
    return labelled


@dataclasses.dataclass(frozen=True)
class MergedRow:
    case: str
    cells: list[dict[str, Any] | None]  # the case's record in each report, or None

    def samples_per_s(self, index: int) -> float | None:
        record = self.cells[index]
        return record.get("samples_per_s") if record and record["status"] == "ok" else None

    def ratio(self, index: int) -> float | None:
        """samples/s in report ``index`` over the first report's."""
        first, this = self.samples_per_s(0), self.samples_per_s(index)
        return this / first if first and this else None


def merged_rows(labelled: list[Labelled]) -> list[MergedRow]:
    records = [{case_label(r["case"]): r for r in all_cases(item.report)} for item in labelled]
    keys = list(dict.fromkeys(key for table in records for key in table))
    return [MergedRow(key, [table.get(key) for table in records]) for key in keys]


def speedups(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per workload: compile over eager (same precision) and amp-bf16 over fp32 (same backend)."""
    ok = {case_label(r["case"]): r for r in all_cases(report) if r["status"] == "ok"}
    out: dict[str, dict[str, float]] = {"compile vs eager": {}, "amp-bf16 vs fp32": {}}
    for record in ok.values():
        case = record["case"]
        for kind, field, slow, fast in (("compile vs eager", "backend", "eager", "compile"),
                                        ("amp-bf16 vs fp32", "precision", "fp32", "amp-bf16")):
            if case[field] != fast:
                continue
            other = ok.get(case_label({**case, field: slow}))
            if other:
                label = case_label({**case, field: f"{fast}/{slow}"})
                out[kind][label] = record["samples_per_s"] / other["samples_per_s"]
    return out
