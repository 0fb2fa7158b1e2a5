"""The terminal summary of a report: one table per model, computed from records only."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.storage import all_cases


@dataclasses.dataclass(frozen=True)
class SummaryRow:
    model: str
    case: str  # mode backend precision batch
    status: str
    reason: str | None
    samples_per_s: float | None
    step_ms: float | None
    iqr_ms: float | None
    speedup: float | None  # against eager fp32 of the same model/mode/batch
    compile_s: float | None
    break_even: float | str | None  # steps until compiling paid off, or 'never'
    mfu: float | None
    peak_memory_bytes: int | None
    unstable: bool


def _key(record: dict[str, Any], **override) -> tuple:
    case = {**record["case"], **override}
    return (case["model"], case["mode"], case["batch_size"], case["device"], case["channels_last"],
            case["backend"], case["precision"])


def break_even_steps(compile_s: float | None, eager_step_s: float | None, step_s: float | None):
    """compile_s / (eager step - compiled step), or 'never' when compiling does not pay."""
    if compile_s is None or eager_step_s is None or step_s is None:
        return None
    saved = eager_step_s - step_s
    return math.ceil(compile_s / saved) if saved > 0 else "never"


def summary_rows(report: dict[str, Any]) -> list[SummaryRow]:
    records = all_cases(report)
    by_key = {_key(r): r for r in records}
    rows = []
    for record in records:
        case = record["case"]
        step = record.get("step_s_median")
        baseline = by_key.get(_key(record, backend="eager", precision="fp32"), {}).get("step_s_median")
        eager_same = by_key.get(_key(record, backend="eager"), {}).get("step_s_median")
        compiled = case["backend"] != "eager"
        rows.append(SummaryRow(
            model=case["model"],
            case=f"{case['mode']} {case['backend']} {case['precision']} bs{case['batch_size']}"
                 + (" channels-last" if case["channels_last"] else ""),
            status=record["status"],
            reason=record.get("reason"),
            samples_per_s=record.get("samples_per_s"),
            step_ms=step * 1e3 if step else None,
            iqr_ms=record["step_s_iqr"] * 1e3 if record.get("step_s_iqr") is not None else None,
            speedup=baseline / step if baseline and step else None,
            compile_s=record.get("compile_s"),
            break_even=break_even_steps(record.get("compile_s"), eager_same, step) if compiled else None,
            mfu=record.get("mfu"),
            peak_memory_bytes=record.get("peak_memory_bytes"),
            unstable=bool(record.get("unstable")),
        ))
    return rows


def _fmt(value, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def render_summary(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=None if Console().is_terminal else 160)
    rows = summary_rows(report)
    for model in dict.fromkeys(row.model for row in rows):
        table = Table(title=f"{model} on {report['machine_info']['torchrig']['device_name']}", title_justify="left")
        for column in ("case", "samples/s", "step ms ± IQR", "vs eager fp32", "compile s", "break-even",
                       "MFU %", "peak mem", "status"):
            table.add_column(column, justify="left" if column in ("case", "status") else "right")
        for row in (r for r in rows if r.model == model):
            step = f"{row.step_ms:.3f} ± {row.iqr_ms:.3f}" if row.step_ms is not None else "-"
            status = row.status if row.status == "ok" else f"[yellow]{row.status}[/]: {row.reason}"
            if row.unstable:
                status += " [yellow](unstable: CV >= 10 %)[/]"
            speedup = f"{row.speedup:.2f}x" if row.speedup else "-"
            break_even = "-" if row.break_even is None else str(row.break_even)
            mfu = _fmt(row.mfu * 100 if row.mfu is not None else None, ".1f")
            memory = f"{row.peak_memory_bytes / 2**20:,.0f} MiB" if row.peak_memory_bytes else "-"
            table.add_row(row.case, _fmt(row.samples_per_s, ",.0f"), step, speedup, _fmt(row.compile_s, ".1f"),
                          break_even, mfu, memory, status)
        console.print(table)
