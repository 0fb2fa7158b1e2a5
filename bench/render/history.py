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


def notes_along(one: Series, changes: list[SeriesChange]) -> dict[int, list[str]]:
    """Index of a point -> what changed there: its software or host, a change point of the step time."""
    points = one.points
    shift_at = {change.point.invocation_key: change for change in changes}
    notes: dict[int, list[str]] = {}
    for i, point in enumerate(points):
        if i and (diffs := point_differences(points[i - 1], point)):
            notes.setdefault(i, []).append(describe_differences(diffs))
        if change := shift_at.get(point.invocation_key):
            notes.setdefault(i, []).append(f"change point: {change.magnitude:+.1%} step time (p={change.pvalue:.1g})")
    return notes


def render_series(one: Series, changes: list[SeriesChange]) -> None:
    points = one.points
    notes = notes_along(one, changes)
    shown = list(range(len(points)))
    if len(points) > MAX_ROWS:
        keep = {0, len(points) - 1, *notes, *(i - 1 for i in notes if i)}
        shown = sorted(keep)
    noisy = len(one.measured) - len(one.quiet)
    table = Table(title=f"{heading(one)}: {len(one.measured)} measured of {len(points)} invocation(s)"
                        + (f" ({noisy} noisy, left out of change points)" if noisy else "")
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


def change_line(change: SeriesChange) -> str:
    """One line per change point: where, how much, and what else changed there."""
    what = describe_differences(change.differences) or "no software or host change recorded there"
    return (f"{change.series.case_key} on {change.series.fingerprint}: {change.magnitude:+.1%} step time at "
            f"{change.point.started.replace('+00:00', '')} UTC (invocation {change.point.invocation_key[:12]}, "
            f"p={change.pvalue:.1g}): {seconds(change.before_s)} -> {seconds(change.after_s)}; {what}")


def render_changes(changes: list[SeriesChange], series_count: int) -> None:
    out = console()
    found = f"{len(changes)} change point(s)" if changes else "no change point"
    out.print(f"{found} in {series_count} series", highlight=False)
    for change in changes:
        out.print(change_line(change), highlight=False, soft_wrap=True, markup=False)
