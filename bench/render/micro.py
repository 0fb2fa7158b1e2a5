"""The micro-benchmarks of a report: each figure with its unit and run spread, beside the GPU's datasheet and,
when the results database holds them, the fleet's median and this host's history; then the curves, the
PCIe link, the peer matrix and the corruption checks. Computed from the records (and yardsticks) only."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from bench.render.common import console, fmt
from bench.results.limits import report_figures
from bench.results.records import Status


def percent(value: float | None) -> str:
    return fmt(value * 100 if value is not None else None, ".1f") + (" %" if value is not None else "")


def figure_text(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f} {unit}" if unit != "GB/s" or value < 1000 else f"{value / 1000:,.3f} TB/s"


def datasheet_text(figure) -> str:
    """'89.6 % of 4800 (unverified)': the fraction, the datasheet figure, and whether it was read from the PDF."""
    if figure is None or figure.of_datasheet is None:
        return "-"
    return f"{percent(figure.of_datasheet)} of {figure.datasheet:g}" + ("" if figure.verified else " (unverified)")


def size_text(size: int) -> str:
    return f"{size / 2**20:g} MiB" if size >= 2**20 else f"{size / 2**10:g} KiB"


def render_micro(report, yardsticks=None, out=None) -> None:
    """``yardsticks``: bench/store/yardsticks.py's, by case key (None: no database)."""
    records = [r for r in report.cases if r.case.micro is not None]
    if not records and not (report.device == "cuda" and report.invocation.suite == "micro"):
        return
    out = out or console()
    sticks = {stick.key: stick for stick in yardsticks or []}
    figures = {figure.name: figure for figure in report_figures(report)}
    table = Table(title=f"micro-benchmarks on {escape(report.device_name)}", title_justify="left")
    for column in ("case", "figure ±run spread (runs)", "of datasheet", "of fleet median", "of own history",
                   "status"):
        table.add_column(column, justify="left" if column in ("case", "status") else "right")
    for record in records:
        figure = figures.get(record.key)
        stick = sticks.get(record.key)
        spread = f" ±{record.run_spread:.1%}" if record.run_spread is not None else ""
        runs = f"{len(record.ok_runs)}/{len(record.runs)}" if record.runs else "-"
        value = figure_text(figure.value, figure.unit) if figure else "-"
        sheet = datasheet_text(figure)
        fleet = f"{percent(stick.of_fleet)} ({stick.fleet_hosts} hosts)" if stick and stick.of_fleet else "-"
        history = f"{percent(stick.of_history)} ({stick.history_points})" if stick and stick.of_history else "-"
        status = record.status.value if record.status is Status.OK else f"{record.status.value}: {record.reason}"
        table.add_row(record.key, f"{value}{spread} ({runs})", sheet, fleet, history, escape(status))
    for name, figure in figures.items():
        if name.startswith("ceiling "):
            table.add_row(f"matmul {name}", figure_text(figure.value, figure.unit), datasheet_text(figure), "-", "-",
                          "ok")
    out.print(table)
    for record in records:
        render_detail(record, out)


def render_detail(record, out) -> None:
    run = next((run for run in record.runs if run.micro is not None), None)
    if run is None:
        return
    detail = run.micro
    lines = []
    if detail.curve:
        points = ", ".join(f"{size_text(p.size_bytes)} {p.gbps:.3g}" for p in detail.curve)
        lines.append(f"curve GB/s (run {run.index + 1}): {points}")
    if detail.link is not None:
        lines.append(detail.link.describe())
    for peer in detail.peers:
        lines.append(f"GPU {peer.source} -> {peer.target}: {peer.gbps:.1f} GB/s"
                     + ("" if peer.peer_access else " (no peer access: through the host)"))
    for check in (c for run in record.runs if run.micro for c in run.micro.corruption):
        lines.append(f"{check.device}: {check.iterations} matmuls n={check.size} in {check.seconds:g} s, "
                     f"{check.mismatches} differ bitwise; float64 error {check.reference_error:.1e} "
                     f"(bound {check.reference_bound:.0e})")
    lines += detail.notes
    if lines:
        out.print(f"[bold]{escape(record.key)}[/]: " + escape("; ".join(lines)))
