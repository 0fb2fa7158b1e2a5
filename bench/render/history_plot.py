"""`bench history CASE --plot FILE.png`: each series as a picture of what the table says.

One panel per series (the first config.HISTORY_PLOT_MAX_SERIES): the invocations' median step times on a log axis
(change points are found in their log: a shift looks the same size wherever it is), each invocation's runs as a
vertical min-max bar with a dot per run (the spread its median comes from), noisy invocations hollow (left out of
change points, rule 11), a red dashed line at each change point with its magnitude and the segment levels either
side, and a grey dotted line where the software or host changed, named. The figure is built apart from writing it
(``history_figure``), so that its content can be checked before it becomes pixels.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from bench import config
from bench.render.common import seconds
from bench.render.history import describe_differences, heading
from bench.render.plots import _pyplot
from bench.store.history import Series, SeriesChange, software_changes
from envcheck.files import OutputError, write_atomic
from envcheck.text import printable

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass(frozen=True)
class Panel:
    series: Series
    changes: list[SeriesChange]
    runs: dict[str, list[float]]  # invocation key -> its runs' median step times (bench/store/history.py)


def when(started: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(started)


def check_plot_path(path: Path) -> None:
    """Before the database is read: matplotlib is there, the file is a .png in an existing folder, and a file
    already there is a PNG (a plot of an earlier call), never anything else. OutputError otherwise."""
    _pyplot()
    if path.suffix.lower() != ".png":
        raise OutputError(f"--plot {path}: expected a .png file name")
    if not path.parent.is_dir():
        raise OutputError(f"--plot {path}: no such folder {path.parent}")
    if path.exists():
        try:
            with path.open("rb") as handle:
                head = handle.read(len(PNG_MAGIC))
        except OSError as error:
            raise OutputError(f"--plot {path}: cannot read it ({error.strerror or error})") from None
        if head != PNG_MAGIC:
            raise OutputError(f"--plot {path}: exists and is not a PNG; refusing to replace it")


def draw_panel(ax, panel: Panel) -> None:
    one = panel.series
    measured = one.measured
    quiet = [p for p in measured if not p.noisy]
    noisy = [p for p in measured if p.noisy]
    ax.plot([when(p.started) for p in quiet], [p.step_s for p in quiet], "o-", color="tab:blue", markersize=4,
            linewidth=1, label="median step of an invocation")
    if noisy:
        ax.plot([when(p.started) for p in noisy], [p.step_s for p in noisy], "o", markerfacecolor="none",
                color="tab:orange", markersize=5, label="noisy (left out of change points)")
    spread = [(when(p.started), panel.runs[p.invocation_key]) for p in measured if panel.runs.get(p.invocation_key)]
    if spread:
        ax.vlines([x for x, _ in spread], [min(r) for _, r in spread], [max(r) for _, r in spread],
                  color="tab:gray", linewidth=1, alpha=0.7, label="its runs (min to max)")
        ax.plot([x for x, runs in spread for _ in runs], [step for _, runs in spread for step in runs], ".",
                color="tab:gray", markersize=2, label="a run's median step")
    for number, change in enumerate(panel.changes):
        x = when(change.point.started)
        ax.axvline(x, color="tab:red", linestyle="--", linewidth=1.2, label="change point" if number == 0 else None)
        ax.annotate(f"{change.magnitude:+.1%}", (x, change.after_s), xytext=(-6, 8), textcoords="offset points",
                    color="tab:red", fontsize=8, ha="right")
        ax.hlines([change.before_s], when(change.previous.started), x, color="tab:red", linewidth=0.8, alpha=0.6)
        ax.hlines([change.after_s], x, when(measured[-1].started), color="tab:red", linewidth=0.8, alpha=0.6)
    for number, (index, differences) in enumerate(software_changes(one)):
        x = when(measured[index].started)
        ax.axvline(x, color="tab:green", linestyle=":", linewidth=1,
                   label="software or host changed" if number == 0 else None)
        ax.annotate(printable(describe_differences(differences)), (x, 1), xycoords=("data", "axes fraction"),
                    xytext=(2, -4), textcoords="offset points", rotation=90, va="top", fontsize=7,
                    color="tab:green")
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: seconds(value)))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: seconds(value)))
    ax.set_ylabel("step time (log scale)")
    ax.set_title(printable(heading(one)), fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="best", framealpha=0.8)
    ax.grid(True, which="both", alpha=0.3)


def history_figure(panels: list[Panel]):
    """The figure (matplotlib's, not yet drawn to pixels): one panel per series with a measured point."""
    plt = _pyplot()
    shown = [panel for panel in panels if panel.series.measured][: config.HISTORY_PLOT_MAX_SERIES]
    if not shown:
        raise OutputError("--plot: no series with a measured invocation to plot")
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 3.6 * len(shown)), squeeze=False)
    for ax, panel in zip(axes[:, 0], shown, strict=True):
        draw_panel(ax, panel)
    axes[-1, 0].set_xlabel("invocation start (UTC)")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def write_history_plot(path: Path, panels: list[Panel]) -> int:
    """Draw the panels into ``path`` (PNG, replaced atomically); how many series it shows."""
    import io

    plt = _pyplot()
    fig = history_figure(panels)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=110)
        shown = len(fig.axes)
    finally:
        plt.close(fig)
    try:
        write_atomic(path, buffer.getvalue())
    except OSError as error:
        raise OutputError(f"--plot {path}: cannot write it ({error.strerror or error})") from None
    return shown
