"""`python -m bench report`: Markdown, PNG plots (matplotlib) and an HTML page from many reports."""

from __future__ import annotations

import html
from pathlib import Path

from bench.merge import Labelled, merged_rows, speedups

PLOT_FILES = ("throughput.png", "speedups.png", "mfu.png")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("plots need matplotlib: pip install 'torchrig[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _barh(ax, labels: list[str], series: list[tuple[str, list[float | None]]], xlabel: str, log=False):
    height = 0.8 / max(len(series), 1)
    for index, (name, values) in enumerate(series):
        positions = [i + index * height for i in range(len(labels))]
        ax.barh(positions, [v or 0 for v in values], height=height, label=name)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(labels))], labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if log:
        ax.set_xscale("log")
    ax.legend(fontsize=7)


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _case_bars(labelled: list[Labelled], value, xlabel: str, title: str, path: Path, log=False) -> Path:
    """One horizontal bar per case and report; ``value(cell)`` reads the number from a record."""
    plt = _pyplot()
    rows = merged_rows(labelled)
    fig, ax = plt.subplots(figsize=(10, 1 + 0.25 * len(rows) * max(1, len(labelled) / 2)))
    _barh(ax, [r.case for r in rows], [(item.label, [value(r.cells[i]) for r in rows])
                                       for i, item in enumerate(labelled)], xlabel, log=log)
    ax.set_title(title)
    return _save(plt, fig, path)


def _ok(cell, field: str, scale: float = 1.0) -> float | None:
    return cell[field] * scale if cell and cell["status"] == "ok" and cell.get(field) else None


def plot_throughput(labelled: list[Labelled], path: Path) -> Path:
    return _case_bars(labelled, lambda cell: _ok(cell, "samples_per_s"), "samples/s (log)",
                      "Throughput per case", path, log=True)


def plot_mfu(labelled: list[Labelled], path: Path) -> Path:
    return _case_bars(labelled, lambda cell: _ok(cell, "mfu", 100), "MFU % of the measured matmul ceiling",
                      "Model FLOPs utilisation", path)


def plot_speedups(labelled: list[Labelled], path: Path) -> Path:
    plt = _pyplot()
    per_report = [speedups(item.report) for item in labelled]
    kinds = ("compile vs eager", "amp-bf16 vs fp32")
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, kind in zip(axes, kinds, strict=True):
        labels = list(dict.fromkeys(label for s in per_report for label in s[kind]))
        if labels:
            _barh(ax, labels, [(item.label, [s[kind].get(label) for label in labels])
                               for item, s in zip(labelled, per_report, strict=True)], "speed-up (x)")
            ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_title(kind)
    return _save(plt, fig, path)


def _environment_table(labelled: list[Labelled]) -> list[list[str]]:
    rows = [["report", "device", "torch", "CUDA", "GPU / CPU", "file"]]
    for item in labelled:
        facts = item.report["torchrig"]["environment"]["facts"]
        torch = facts.get("torch") or {}
        hardware = ", ".join(g["name"] for g in facts.get("gpus", [])) or facts["cpu"]["model"] or "?"
        rows.append([item.label, item.report["machine_info"]["torchrig"]["device_name"], str(torch.get("version")),
                     str(torch.get("cuda_build")), hardware, item.path.name])
    return rows


def _merged_table(labelled: list[Labelled]) -> list[list[str]]:
    header = ["case"] + [f"{item.label} samples/s" for item in labelled] + \
             [f"{item.label} / {labelled[0].label}" for item in labelled[1:]]
    rows = [header]
    for row in merged_rows(labelled):
        cells = []
        for index, cell in enumerate(row.cells):
            value = row.samples_per_s(index)
            cells.append(f"{value:,.0f}" if value else (cell["status"] if cell else "—"))
        ratios = [f"{row.ratio(i):.2f}x" if row.ratio(i) else "—" for i in range(1, len(labelled))]
        rows.append([row.case, *cells, *ratios])
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report_dir(labelled: list[Labelled], out_dir: Path) -> list[Path]:
    """summary.md, index.html and the PNG plots in ``out_dir``; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = [plot_throughput(labelled, out_dir / PLOT_FILES[0]),
             plot_speedups(labelled, out_dir / PLOT_FILES[1]),
             plot_mfu(labelled, out_dir / PLOT_FILES[2])]
    environments, merged = _environment_table(labelled), _merged_table(labelled)
    markdown = "\n\n".join([
        "# torchrig benchmark report",
        "## Environments", markdown_table(environments),
        "## Throughput (samples/s) and ratio to the first report", markdown_table(merged),
        "## Plots", *[f"![{p.stem}]({p.name})" for p in plots],
    ]) + "\n"
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>torchrig report</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child{text-align:left}"
            "img{max-width:100%}</style></head><body><h1>torchrig benchmark report</h1>"
            f"<h2>Environments</h2>{html_table(environments)}"
            f"<h2>Throughput (samples/s)</h2>{html_table(merged)}<h2>Plots</h2>"
            + "".join(f"<p><img src='{p.name}' alt='{p.stem}'></p>" for p in plots) + "</body></html>\n")
    summary, index = out_dir / "summary.md", out_dir / "index.html"
    summary.write_text(markdown, encoding="utf-8")
    index.write_text(page, encoding="utf-8")
    return [summary, index, *plots]
