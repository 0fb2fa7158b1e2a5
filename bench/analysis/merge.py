"""Many reports in one table: rows are cases, columns are reports (machines, environments, setups),
each column after the first with its ratio to the first, the ratio's confidence interval and verdict."""

from __future__ import annotations

import dataclasses

from bench.analysis.compare import CaseComparison, compare_reports
from bench.results.records import CaseRecord, Status
from bench.results.report import Report


def labels(reports: list[Report]) -> list[str]:
    """Each report's label; duplicates get a numeric suffix."""
    seen: dict[str, int] = {}
    out = []
    for report in reports:
        seen[report.label] = seen.get(report.label, 0) + 1
        out.append(report.label if seen[report.label] == 1 else f"{report.label} #{seen[report.label]}")
    return out


@dataclasses.dataclass(frozen=True)
class MergedRow:
    key: str
    cells: list[CaseRecord | None]  # the case's record in each report, or None
    against_first: list[CaseComparison | None]  # report i against report 0 (None for i = 0)

    def items_per_s(self, index: int) -> float | None:
        record = self.cells[index]
        return record.items_per_s if record and record.status is Status.OK else None


def merged_rows(reports: list[Report], **thresholds) -> list[MergedRow]:
    """Each report against the first; separate invocations with the drift of their hardware counted.
    ``thresholds``: compare_reports' alpha, margin_pct and fail_above_pct (default compare's)."""
    from bench.analysis.baselines import drift_between

    drifts: dict[str, object] = {}  # a hardware's baseline set is read once, however many reports it has

    def drift(other: Report):
        if reports[0].same_invocation(other):
            return None
        if other.fingerprint.id not in drifts:
            drifts[other.fingerprint.id] = drift_between(reports[0], other)
        return drifts[other.fingerprint.id]

    comparisons = [None] + [{c.key: c for c in compare_reports(reports[0], other, drift=drift(other),
                                                               **thresholds).cases} for other in reports[1:]]
    keys = list(dict.fromkeys(r.key for report in reports for r in report.cases))
    return [MergedRow(key, [report.find(key) for report in reports],
                      [None] + [table.get(key) for table in comparisons[1:]]) for key in keys]


def speedups(report: Report) -> dict[str, dict[str, float]]:
    """Per workload: compile over eager (same precision) and amp-bf16 over fp32 (same backend)."""
    out: dict[str, dict[str, float]] = {"compile vs eager": {}, "amp-bf16 vs fp32": {}}
    for record in report.ok_cases():
        case = record.case
        for kind, field, slow, fast in (("compile vs eager", "backend", "eager", "compile"),
                                        ("amp-bf16 vs fp32", "precision", "fp32", "amp-bf16")):
            if getattr(case, field) != fast:
                continue
            speed = report.relative_speed(record, **{field: slow})
            if speed is not None:
                out[kind][case.key.replace(f"-{fast}-", f"-{fast}/{slow}-", 1)] = speed
    return out
