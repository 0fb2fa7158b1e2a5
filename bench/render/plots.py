"""`python -m bench report`: Markdown, PNG plots (matplotlib) and an HTML page from many reports.

Every file is written atomically (a full disk leaves the old file or none, never a
0-byte PNG), and a file is replaced only if an earlier `bench report` wrote it (its
manifest, .torchrig-report.json, says so): a user's own summary.md is never overwritten.
"""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

from bench.analysis.merge import MergedRow, labels, merged_rows, speedups
from bench.results.records import Status
from bench.results.report import Report
from envcheck.codec import DecodeError, read_json
from envcheck.files import OutputError, describe, json_text, write_atomic
from envcheck.text import printable

TOOL = "torchrig.report"
MANIFEST = ".torchrig-report.json"
PLOT_FILES = ("throughput.png", "speedups.png", "mfu.png")
FILES = ("summary.md", "index.html", *PLOT_FILES)


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise OutputError("plots need matplotlib: pip install 'torchrig[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _barh(ax, names: list[str], series: list[tuple[str, list[float | None]]], xlabel: str, log=False):
    height = 0.8 / max(len(series), 1)
    for index, (name, values) in enumerate(series):
        positions = [i + index * height for i in range(len(names))]
        ax.barh(positions, [v or 0 for v in values], height=height, label=printable(name))
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(names))], [printable(n) for n in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if log:
        ax.set_xscale("log")
    ax.legend(fontsize=7)


def _png(plt, fig) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _case_bars(reports: list[Report], rows: list[MergedRow], value, xlabel: str, title: str, log=False) -> bytes:
    """One horizontal bar per case and report; ``value(report, record)`` reads the number."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 1 + 0.25 * len(rows) * max(1, len(reports) / 2)))
    series = [(name, [value(report, row.cells[i]) if row.cells[i] and row.cells[i].status is Status.OK else None
                      for row in rows]) for i, (name, report) in enumerate(zip(labels(reports), reports, strict=True))]
    _barh(ax, [r.key for r in rows], series, xlabel, log=log)
    ax.set_title(title)
    return _png(plt, fig)


def plot_throughput(reports: list[Report], rows: list[MergedRow]) -> bytes:
    return _case_bars(reports, rows, lambda report, r: r.items_per_s, "samples/s or tokens/s (log)",
                      "Throughput per case", log=True)


def plot_mfu(reports: list[Report], rows: list[MergedRow]) -> bytes:
    return _case_bars(reports, rows, lambda report, r: (report.mfu(r) or 0) * 100,
                      "MFU % of the measured matmul ceiling", "Model FLOPs utilisation")


def plot_speedups(reports: list[Report]) -> bytes:
    plt = _pyplot()
    per_report = [speedups(report) for report in reports]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, kind in zip(axes, ("compile vs eager", "amp-bf16 vs fp32"), strict=True):
        names = list(dict.fromkeys(name for s in per_report for name in s[kind]))
        if names:
            _barh(ax, names, [(label, [s[kind].get(name) for name in names])
                              for label, s in zip(labels(reports), per_report, strict=True)], "speed-up (x)")
            ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_title(kind)
    return _png(plt, fig)


def md(text: str) -> str:
    """Markdown-escape a table cell (labels come from users: `|` or `*` must not break the table, a control
    character is shown escaped)."""
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", printable(str(text))).replace("\n", " ")


def environment_rows(reports: list[Report]) -> list[list[str]]:
    rows = [["report", "device", "torch", "CUDA", "GPU / CPU", "fingerprint"]]
    for name, report in zip(labels(reports), reports, strict=True):
        facts = report.environment.facts
        hardware = ", ".join(g.name for g in facts.gpus) or facts.cpu.model or "?"
        rows.append([name, report.device_name, str(facts.torch.version if facts.torch else None),
                     str(facts.torch.cuda_build if facts.torch else None), hardware, report.fingerprint.id])
    return rows


def merged_table(reports: list[Report], merged: list[MergedRow]) -> list[list[str]]:
    names = labels(reports)
    rows = [["case", *names, *[f"{name} / {names[0]} [the bounds its verdict used]" for name in names[1:]]]]
    for row in merged:
        cells = [f"{value:,.0f}" if (value := row.items_per_s(i)) else
                 (row.cells[i].status.value if row.cells[i] else "—") for i in range(len(reports))]
        ratios = [ratio_text(comparison) for comparison in row.against_first[1:]]
        rows.append([row.key, *cells, *ratios])
    return rows


def ratio_text(comparison) -> str:
    if comparison is None:
        return "—"
    estimate = comparison.estimate
    if estimate is None:
        return comparison.verdict.value
    return f"{estimate.ratio:.2f}x [{estimate.ci_low:.2f}, {estimate.ci_high:.2f}] {comparison.verdict.value}"


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(map(md, rows[0])) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(map(md, row)) + " |" for row in rows[1:]]
    return "\n".join(lines)


def html_table(rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return html.escape(printable(text))

    head = "".join(f"<th>{cell(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def owned_files(out_dir: Path) -> set[str]:
    try:
        manifest = read_json(out_dir / MANIFEST)
    except (OSError, DecodeError):
        return set()
    return set(manifest.get("files", [])) if isinstance(manifest, dict) and manifest.get("tool") == TOOL else set()


def check_report_dir(out_dir: Path) -> None:
    """Before drawing anything: ``out_dir`` is a folder whose report files, if any, are ours."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} is a file; expected a folder")
    owned = owned_files(out_dir)
    foreign = [name for name in FILES if (out_dir / name).exists() and name not in owned]
    if foreign:
        raise OutputError(f"{out_dir / foreign[0]} exists and was not written by `bench report`; refusing to "
                          "overwrite it (choose another --out)")


def write_report_dir(reports: list[Report], out_dir: Path) -> list[Path]:
    """summary.md, index.html and the PNG plots in ``out_dir``; returns the files written."""
    check_report_dir(out_dir)
    rows = merged_rows(reports)  # once: each other report compared with the first, its baseline read once
    plots = dict(zip(PLOT_FILES, (plot_throughput(reports, rows), plot_speedups(reports), plot_mfu(reports, rows)),
                     strict=True))
    environments, merged = environment_rows(reports), merged_table(reports, rows)
    markdown = "\n\n".join([
        "# torchrig benchmark report",
        "## Environments", markdown_table(environments),
        "## Throughput and ratio to the first report", markdown_table(merged),
        "## Plots", *[f"![{Path(name).stem}]({name})" for name in plots],
    ]) + "\n"
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>torchrig report</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child{text-align:left}"
            "img{max-width:100%}</style></head><body><h1>torchrig benchmark report</h1>"
            f"<h2>Environments</h2>{html_table(environments)}"
            f"<h2>Throughput</h2>{html_table(merged)}<h2>Plots</h2>"
            + "".join(f"<p><img src='{name}' alt='{Path(name).stem}'></p>" for name in plots) + "</body></html>\n")
    contents = {"summary.md": markdown, "index.html": page, **plots}
    written = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(out_dir / MANIFEST, json_text({"tool": TOOL, "files": list(FILES)}))
        for name, content in contents.items():
            written.append(write_atomic(out_dir / name, content))
    except OSError as error:
        raise OutputError(f"cannot write {out_dir}: {describe(error)} (files already written: "
                          f"{', '.join(p.name for p in written) or 'none'})") from None
    return written
