"""The terminal summary of a report: one table per model, computed from records only."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.compare import case_label
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


def _key(record: dict[str, Any], **override) -> str:
    """The case id of ``record``, or of its sibling with some axes replaced."""
    return case_label({**record["case"], **override})


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
            status = row.status if row.status == "ok" else f"[yellow]{row.status}[/]: {escape(row.reason or '')}"
            if row.unstable:
                status += " [yellow](unstable: CV >= 10 %)[/]"
            speedup = f"{row.speedup:.2f}x" if row.speedup else "-"
            break_even = "-" if row.break_even is None else str(row.break_even)
            mfu = _fmt(row.mfu * 100 if row.mfu is not None else None, ".1f")
            memory = f"{row.peak_memory_bytes / 2**20:,.0f} MiB" if row.peak_memory_bytes else "-"
            table.add_row(row.case, _fmt(row.samples_per_s, ",.0f"), step, speedup, _fmt(row.compile_s, ".1f"),
                          break_even, mfu, memory, status)
        console.print(table)


def render_comparison(comparison, console: Console | None = None) -> None:
    """Environment differences first, then one row per matched case."""
    console = console or Console(width=None if Console().is_terminal else 160)
    console.print(f"[bold]{escape(comparison.new_name)}[/] against [bold]{escape(comparison.base_name)}[/]")
    if comparison.environment_differences:
        console.print("[yellow]Environments differ; the comparison crosses them:[/]")
        for label, base, new in comparison.environment_differences:
            console.print(escape(f"  {label}: {base} -> {new}"))
    else:
        console.print("Same environment (GPU, driver, torch, CUDA, cuDNN, CPU, Python).")
    table = Table(title_justify="left")
    for column in ("case", "base samples/s", "new samples/s", "ratio", "change", "p", "verdict"):
        table.add_column(column, justify="left" if column in ("case", "verdict") else "right")
    styles = {"faster": "green", "slower": "bold red", "same": "dim"}
    for row in comparison.cases:
        style = styles.get(row.verdict, "yellow")
        change = f"{row.change_pct:+.1f}%" if row.change_pct is not None else "-"
        table.add_row(row.label, _fmt(row.base_samples_per_s, ",.0f"), _fmt(row.new_samples_per_s, ",.0f"),
                      _fmt(row.ratio, ".3f"), change, _fmt(row.p_value, ".3f"), f"[{style}]{row.verdict}[/]")
    console.print(table)
    for side, names in (("base", comparison.only_base), ("new", comparison.only_new)):
        if names:
            console.print(escape(f"only in {side}: " + ", ".join(names)))


def render_merged(labelled, console: Console | None = None) -> None:
    """Rows = cases, columns = reports: samples/s, and the ratio to the first report."""
    from bench.merge import merged_rows

    console = console or Console(width=None if Console().is_terminal else 200)
    table = Table(title="samples/s per environment (ratio to the first)", title_justify="left")
    table.add_column("case")
    for item in labelled:
        table.add_column(escape(item.label), justify="right")
    for row in merged_rows(labelled):
        cells = []
        for index, cell in enumerate(row.cells):
            value = row.samples_per_s(index)
            if value is None:
                cells.append(cell["status"] if cell else "-")
            elif index == 0:
                cells.append(f"{value:,.0f}")
            else:
                cells.append(f"{value:,.0f} ({_fmt(row.ratio(index), '.2f')}x)")
        table.add_row(row.case, *cells)
    console.print(table)


def render_tta(document: dict, console: Console | None = None) -> None:
    """One row per recipe and phase: reached or not, wall time, epochs, final accuracy."""
    console = console or Console(width=None if Console().is_terminal else 160)
    table = Table(title=f"time to accuracy on {document['device']} ({document['data']}; target "
                        f"{document['target']} %, fine-tune {document['finetune_target']} %)", title_justify="left")
    for column in ("recipe", "phase", "reached", "wall s", "epochs", "accuracy %"):
        table.add_column(column, justify="left" if column in ("recipe", "phase") else "right")
    for result in document["recipes"]:
        for phase in ("scratch", "pretrain", "finetune"):
            row = result[phase]
            table.add_row(result["recipe"]["name"], phase, "yes" if row["reached"] else "[red]no[/]",
                          f"{row['wall_s']:.1f}", f"{row['epochs']:.2f}", f"{row['accuracy']:.2f}")
    console.print(table)


def render_distributed(report: dict[str, Any], console: Console | None = None) -> None:
    """Data-parallel figures: per-rank and global samples/s, scaling efficiency, all-reduce bandwidth."""
    records = [r for r in all_cases(report) if r.get("distributed")]
    collectives = report["torchrig"].get("collectives") or {}
    if not records and not collectives.get("allreduce"):
        return
    console = console or Console(width=None if Console().is_terminal else 160)
    table = Table(title="data-parallel (DDP under torchrun)", title_justify="left")
    for column in ("case", "world", "backend", "per-rank samples/s", "global samples/s", "1-process samples/s",
                   "scaling efficiency"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for record in records:
        dist = record["distributed"]
        table.add_row(f"{record['case']['model']} {record['case']['mode']} {record['case']['backend']} "
                      f"{record['case']['precision']} bs{record['case']['batch_size']}",
                      str(dist["world_size"]), dist["backend"],
                      ", ".join(f"{v:,.0f}" for v in dist["per_rank_samples_per_s"]),
                      f"{dist['global_samples_per_s']:,.0f}", _fmt(dist["single_process_samples_per_s"], ",.0f"),
                      _fmt(dist["scaling_efficiency"] * 100 if dist["scaling_efficiency"] else None, ".1f") + " %")
    console.print(table)
    rows = collectives.get("allreduce") or []
    if rows:
        bandwidth = Table(title="all-reduce (nccl-tests definitions)", title_justify="left")
        for column in ("size", "time us", "algbw GB/s", "busbw GB/s"):
            bandwidth.add_column(column, justify="right")
        for row in rows:
            bandwidth.add_row(f"{row['bytes'] / 1024:,.0f} KiB", f"{row['time_s'] * 1e6:,.1f}",
                              f"{row['algbw_gbps']:.3f}", f"{row['busbw_gbps']:.3f}")
        console.print(bandwidth)
