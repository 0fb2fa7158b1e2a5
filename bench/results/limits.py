"""A micro case's figure (GB/s, us, TFLOP/s) and the matmul ceilings, each beside its GPU's datasheet figure
(bench/results/datasheets.py): derived from a report when it is written or read, never stored on its own."""

from __future__ import annotations

import dataclasses

from bench.results.datasheets import CEILING_FIGURES, Sku, datasheet_for
from bench.results.records import CaseRecord


@dataclasses.dataclass(frozen=True)
class Figure:
    """One measured figure and, on a known GPU, the datasheet's."""

    name: str  # the case key, or 'ceiling <precision>'
    value: float | None
    unit: str
    datasheet_figure: str | None = None  # the Sku field it is judged against
    datasheet: float | None = None  # that figure (half a bidirectional link total, for a one-way copy)
    sku: str | None = None
    verified: bool | None = None  # the datasheet figure was read from the PDF

    @property
    def of_datasheet(self) -> float | None:
        return self.value / self.datasheet if self.value is not None and self.datasheet else None


def gpu_name(report) -> str | None:
    """NVML's product name of the report's first GPU (None on a CPU report)."""
    gpus = report.environment.facts.gpus
    return gpus[0].name if report.device == "cuda" and gpus else None


def micro_figure(record: CaseRecord, sku: Sku | None) -> Figure:
    spec = record.case.micro
    value = spec.figure(record.items_per_s, record.tflops)
    limit = sku.limit(spec.limit) if sku and spec.limit else None
    return Figure(record.key, value, spec.figure_unit, spec.limit if limit else None, limit,
                  sku.name if sku else None, sku.verified if sku else None)


def report_figures(report) -> list[Figure]:
    """Each measured micro case's figure, then each matmul ceiling (TFLOP/s), beside the datasheet."""
    sku = datasheet_for(gpu_name(report))
    figures = [micro_figure(record, sku) for record in report.ok_cases() if record.case.micro is not None]
    for precision, tflops in sorted(report.ceilings.tflops.items()):
        field = CEILING_FIGURES.get(precision)
        limit = sku.limit(field) if sku and field else None
        figures.append(Figure(f"ceiling {precision}", tflops, "TFLOP/s", field if limit else None, limit,
                              sku.name if sku else None, sku.verified if sku else None))
    return figures
