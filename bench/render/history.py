"""`bench history`: a series from the results database as a table, with the software changes along it, and its
change points (`--changes`). Prints through the console that strips control characters from stored text."""

from __future__ import annotations

from rich.table import Table

from bench.render.common import console, rate, seconds
from bench.store.history import Series, SeriesChange, point_differences

MAX_ROWS = 60  # a longer series shows its first and last points, and each point where something changed


def describe_differences(differences: list[tuple[str, str | None, str | None]]) -> str:
    return ", ".join(f"{name} {before or '-'} -> {after or '-'}" for name, before, after in differences)


def heading(one: Series) -> str:
    context = " ".join(f"{k}={v}" for k, v in one.context.items())
    return f"{one.case_key} on {one.fingerprint}" + (f" ({context})" if context else "")


def render_series(one: Series, changes: list[SeriesChange]) -> None:
    points = one.points
    shift_at = {change.point.invocation_key: change for change in changes}
    notes: dict[int, list[str]] = {}
    for i, point in enumerate(points):
        if i and (diffs := point_differences(points[i - 1], point)):
            notes.setdefault(i, []).append(describe_differences(diffs))
        if change := shift_at.get(point.invocation_key):
            notes.setdefault(i, []).append(f"change point: {change.magnitude:+.1%} step time (p={change.pvalue:.1g})")
    shown = list(range(len(points)))
    if len(points) > MAX_ROWS:
        keep = {0, len(points) - 1, *notes, *(i - 1 for i in notes if i)}
        shown = sorted(keep)
    table = Table(title=f"{heading(one)}: {len(one.measured)} measured of {len(points)} invocation(s)"
                        + (f", {len(shown)} shown" if len(shown) < len(points) else ""), title_justify="left")
    for column in ("started (UTC)", "host", "torch", "cuda", "driver", "step", "throughput", "runs", "status",
                   "changed here"):
        table.add_column(column, justify="right" if column in ("step", "throughput", "runs") else "left")
    for i in shown:
        point = points[i]
        software = point.software
        status = point.status + (" (noisy)" if point.noisy else "")
        unit = f" {point.unit}/s" if point.unit and point.items_per_s is not None else ""
        table.add_row(point.started.replace("+00:00", ""), point.hostname or "-", software.torch or "-",
                      software.cuda or "-", software.driver or "-", seconds(point.step_s),
                      rate(point.items_per_s) + unit, str(point.runs), status, "; ".join(notes.get(i, [])))
    console().print(table)


def render_changes(changes: list[SeriesChange], series_count: int) -> None:
    out = console()
    if not changes:
        out.print(f"no change point in {series_count} series")
        return
    table = Table(title=f"{len(changes)} change point(s) in {series_count} series", title_justify="left")
    for column in ("case", "machine", "at (UTC)", "invocation", "step before", "step after", "change", "p",
                   "what else changed there"):
        table.add_column(column, justify="right" if column in ("step before", "step after", "change", "p") else "left")
    for change in changes:
        table.add_row(change.series.case_key, change.series.fingerprint, change.point.started.replace("+00:00", ""),
                      change.point.invocation_key[:12], seconds(change.before_s), seconds(change.after_s),
                      f"{change.magnitude:+.1%}", f"{change.pvalue:.1g}",
                      describe_differences(change.differences) or "nothing recorded (same software and host)")
    out.print(table)
