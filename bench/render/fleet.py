"""Text of `bench fleet status` and `bench fleet report`: plain lines (the CLI prints them), one row per node."""

from __future__ import annotations

import shlex

from bench.analysis.fleet import FleetReport, NodeVerdict, drain_command


def status_lines(job, statuses) -> list[str]:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status.status] = counts.get(status.status, 0) + 1
    summary = ", ".join(f"{counts[name]} {name}" for name in ("done", "running", "pending", "missing")
                        if name in counts)
    lines = [f"fleet {job.fleet_key} (Slurm job {', '.join(job.scheduler_jobs) or '-'}), tier {job.tier}, "
             f"{len(statuses)} node(s): {summary}"]
    width = max([len(s.node) for s in statuses] + [4])
    lines.append(f"{'index':>5}  {'node':<{width}}  {'status':<8}  detail")
    lines += [f"{s.index:>5}  {s.node:<{width}}  {s.status:<8}  {s.detail}" for s in statuses]
    return lines


def pct(value: float) -> str:
    return f"{value:.1f}%" if value < 1000 else "1000% (it cannot tell)"


def ratio_text(value: float | None) -> str:
    return "-" if value is None else f"x{value:.3f}"


def history_text(history) -> str:
    return "-" if history is None or history.ratio is None else f"x{history.ratio:.3f} ({history.validations})"


def history_note(node, history, settings) -> str:
    """What the node's own history says of a flagged node: a change on it, or how it always was."""
    if history is None or history.ratio is None or node.verdict.value not in ("degraded", "broken"):
        return ""
    if history.ratio > 1 + settings.slower_pct / 100:
        return (f"; slower than its own last {history.validations} validation(s) too (x{history.ratio:.3f}): "
                "something changed on this node")
    return f"; about as fast as in its own last {history.validations} validation(s) (x{history.ratio:.3f})"


def report_lines(report: FleetReport, title: str, history=None) -> list[str]:
    """``history``: node -> NodeHistory (bench.analysis.fleet.node_histories), or None for no such column."""
    settings = report.settings
    history = history or {}
    counts = ", ".join(f"{report.count(v)} {v.value}" for v in NodeVerdict if report.count(v))
    lines = [f"{title}: {len(report.nodes)} node(s): {counts}; degraded = slower than the fleet's median by more "
             f"than {settings.slower_pct:g}% (one-sided, alpha {settings.alpha:g} per node, Holm over its cases)"]
    for fingerprint, size in sorted(report.groups.items(), key=lambda item: -item[1]):
        tells = report.mde_pct.get(fingerprint)
        can = f"; at its spread it tells a node slower by >= {pct(tells)} apart (power {settings.power:g})" \
            if tells is not None else ""
        lines.append(f"fingerprint {fingerprint}: {size} node(s){can}")
    lines.append("ratio = step time over the fleet's (geometric mean over the cases; > 1: slower); own history = "
                 "over the node's own earlier validations (how many), '-' where it has none")
    width = max([len(n.node) for n in report.nodes] + [4])
    lines.append(f"{'rank':>4}  {'node':<{width}}  {'verdict':<12}  {'ratio':>7}  {'own history':>12}  "
                 f"{'worst case':<36}  why")
    for rank, node in enumerate(report.nodes, 1):
        worst = f"{node.worst_case} {ratio_text(node.worst_ratio)}" if node.worst_case else "-"
        mine = history.get(node.node)
        lines.append(f"{rank:>4}  {node.node:<{width}}  {node.verdict.value:<12}  {ratio_text(node.ratio):>7}  "
                     f"{history_text(mine):>12}  {worst:<36}  {'; '.join(node.reasons)}"
                     f"{history_note(node, mine, settings)}")
    drains = report.to_drain()
    if drains:
        lines.append(f"to drain {len(drains)} node(s) (run these, or pass --drain):")
        lines += ["  " + shlex.join(drain_command(node.node, node.drain_reason())) for node in drains]
    return lines
