"""Shared formatting: a console that is wide enough when not a terminal, numbers and units."""

from __future__ import annotations

from rich.console import Console

from envcheck.console import SafeConsole


def console(width: int = 160) -> Console:
    """Every view prints through this: a report's strings reach the terminal without control characters."""
    return SafeConsole(width=None if Console().is_terminal else width)


def fmt(value, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def rate(value: float | None) -> str:
    """Throughput with a scale: 1,234 / 12.3k / 1.23M."""
    if value is None:
        return "-"
    for limit, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if value >= limit:
            return f"{value / scale:,.3g}{suffix}"
    return f"{value:,.3g}" if value < 100 else f"{value:,.0f}"


def mib(value: int | None) -> str:
    return "-" if not value else f"{value / 2**20:,.0f} MiB"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"
