"""compare's output: what differs between the sides, then one row per matched case."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from bench.analysis.compare import Comparison, Verdict
from bench.analysis.merge import MergedRow, labels, merged_rows
from bench.render.common import console, fmt, rate
from bench.results.report import Report

STYLES = {Verdict.FASTER: "green", Verdict.SLOWER: "bold red", Verdict.SAME: "dim", Verdict.NOISY: "yellow",
          Verdict.INCONCLUSIVE: "yellow", Verdict.NOT_COMPARABLE: "yellow"}


def interval(row) -> str:
    estimate = row.estimate
    return f"[{estimate.ci_low:.3f}, {estimate.ci_high:.3f}]" if estimate else "-"


def tells(row) -> str:
    return f"{row.mde_pct:.1f}%" if row.mde_pct is not None else "-"


def render_comparison(comparison: Comparison, out=None) -> None:
    """Differences that explain results first (software, hardware fingerprint, setup), then the cases."""
    out = out or console()
    out.print(f"[bold]{escape(comparison.new_name)}[/] against [bold]{escape(comparison.base_name)}[/]")
    if comparison.differences:
        out.print("[yellow]The sides differ; the comparison crosses these:[/]")
        for label, base, new in comparison.differences:
            out.print(escape(f"  {label}: {base} -> {new}"))
    else:
        out.print("Same software and hardware fingerprint (GPU, driver, torch, CUDA, cuDNN, CPU, cores, ISA, memory).")
    out.print(escape(f"Basis: {comparison.basis}."))
    table = Table(title_justify="left", caption=escape(
        f"ratio = new/base throughput, from each run's median step; interval = the one-sided bounds the verdict "
        f"used, Holm-adjusted over the cases (family-wise {comparison.alpha:g}); slower: upper bound below "
        f"{1 - comparison.slower_pct / 100:.3g}; same: lower bound above {1 - comparison.margin_pct / 100:.3g}; "
        "tells = the smallest change this spread can tell"), caption_justify="left")
    for column in ("case", "base", "new", "ratio", "interval", "tells", "runs", "verdict", "why"):
        table.add_column(column, justify="left" if column in ("case", "verdict", "why") else "right")
    for row in comparison.cases:
        style = STYLES[row.verdict]
        runs = f"{row.estimate.n_base}/{row.estimate.n_new}" if row.estimate else "-"
        table.add_row(row.key, rate(row.base_items_per_s), rate(row.new_items_per_s),
                      fmt(row.estimate.ratio if row.estimate else None, ".3f"), interval(row), tells(row),
                      runs, f"[{style}]{row.verdict.value}[/]", escape(row.why))
    out.print(table)
    counts = ", ".join(f"{comparison.count(v)} {v.value}" for v in Verdict if comparison.count(v))
    out.print(f"{len(comparison.cases)} cases compared, {comparison.decided} decided: {counts or 'none'}")
    for side, names in (("base", comparison.only_base), ("new", comparison.only_new)):
        if names:
            out.print(escape(f"only in {side}: " + ", ".join(names)))


def merged_cell(row: MergedRow, index: int) -> str:
    record, value = row.cells[index], row.items_per_s(index)
    if value is None:
        return record.status.value if record else "-"
    text = rate(value) + (" [yellow](noisy)[/]" if record.noisy else "")
    comparison = row.against_first[index]
    if index == 0 or comparison is None or comparison.estimate is None:
        return text
    estimate = comparison.estimate
    style = STYLES[comparison.verdict]
    return (f"{text} [{style}]{estimate.ratio:.2f}x [{estimate.ci_low:.2f}-{estimate.ci_high:.2f}] "
            f"tells {comparison.mde_pct:.0f}% {comparison.verdict.value}[/]")


def render_merged(reports: list[Report], out=None, thresholds: dict | None = None) -> None:
    """Rows = cases, columns = reports: throughput, and each column's ratio to the first with its interval,
    decided at ``thresholds`` (compare_reports' keywords: a run's --fail-above; default compare's)."""
    out = out or console(220)
    names = labels(reports)
    out.print(escape("throughput per report (ratio to the first [the bounds its verdict used], the smallest change "
                     "this spread tells, verdict)"))
    table = Table()
    table.add_column("case")
    for name in names:
        table.add_column(escape(name), justify="right")
    rows = merged_rows(reports, **(thresholds or {}))
    for row in rows:
        table.add_row(row.key, *(merged_cell(row, i) for i in range(len(reports))))
    out.print(table)
    for index, name in enumerate(names[1:], 1):
        compared = [row.against_first[index] for row in rows if row.against_first[index] is not None]
        decided = sum(1 for c in compared if c.decision.decided)
        out.print(escape(f"{name} against {names[0]}: {decided} of {len(compared)} cases decided"))
