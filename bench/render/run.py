"""The summary of one report: a table per model, computed from its records only."""

from __future__ import annotations

import dataclasses

from rich.markup import escape
from rich.table import Table

from bench.render.common import console, fmt, mib, rate, seconds
from bench.results.ceilings import describe
from bench.results.records import CaseRecord, Status
from bench.results.report import Report
from envcheck.text import printable


@dataclasses.dataclass(frozen=True)
class SummaryRow:
    model: str
    case: str  # mode backend precision batch
    status: str
    unit: str
    items_per_s: float | None
    step_s: float | None
    run_spread: float | None  # between-run CV of the step time
    runs: str  # ok runs / runs
    speedup: float | None  # against eager fp32 of the same model, mode, batch and world size
    compile_cold_s: float | None
    compile_warm_s: float | None
    break_even: float | str | None  # steps until compiling (cold) paid off, or 'never'
    mfu: float | None
    peak_memory: tuple[int, str] | None
    latency: dict[str, float] | None
    generation: tuple[float, float] | None  # prefill and decode tokens/s
    trainable_fraction: float | None
    flags: tuple[str, ...]  # noisy, unstable warm-up, emulated precision, and why not ok


def flags_of(record: CaseRecord, rules=None) -> tuple[str, ...]:
    flags = []
    if record.status is not Status.OK:
        flags.append(f"{record.status.value}: {record.reason}")
    if record.noisy:
        flags.append("noisy: " + "; ".join(record.noise_reasons))
    if record.hardware_findings:
        flags.append("hardware: " + "; ".join(record.hardware_findings))
    if note := record.warmup_unsteady_note():
        flags.append(note)
    if rules is not None and (unstable := record.unstable_runs(rules)):
        flags.append(f"unstable rounds in {len(unstable)} of {len(record.ok_runs)} runs (std/mean >= "
                     f"{rules.unstable_cv:.0%} or min/max >= {rules.unstable_spread:.0%} off the mean)")
    if record.precision_native is False:
        flags.append("emulated precision")
    return tuple(flags)


def summary_rows(report: Report) -> list[SummaryRow]:
    rows = []
    for record in report.cases:
        if record.case.micro is not None:  # bench/render/micro.py shows them, in their own units
            continue
        case, workload = record.case, record.workload
        rows.append(SummaryRow(
            model=case.model,
            case=" ".join([case.mode, case.backend, case.precision, f"bs{case.batch_size}"]
                          + (["channels-last"] if case.channels_last else [])
                          + ([f"ddp{case.world_size}"] if case.world_size > 1 else [])),
            status=record.status.value, unit=case.spec.unit, items_per_s=record.items_per_s, step_s=record.step_s,
            run_spread=record.run_spread, runs=f"{len(record.ok_runs)}/{len(record.runs)}" if record.runs else "-",
            speedup=report.speedup(record), compile_cold_s=record.compile_s("cold"),
            compile_warm_s=record.compile_s("warm"), break_even=report.break_even(record),
            mfu=report.mfu(record), peak_memory=record.peak_memory, latency=record.latency_percentiles(),
            generation=record.generation_rates(),
            trainable_fraction=workload.trainable_fraction if workload and case.mode.startswith("finetune") else None,
            flags=flags_of(record, report.invocation.rules)))
    return rows


def cells(row: SummaryRow) -> dict[str, str]:
    """The row's formatted cells by column name; columns no row of a table needs are dropped."""
    spread = f" ±{row.run_spread:.1%}" if row.run_spread is not None else ""
    compile_s = "-"
    if row.compile_cold_s is not None or row.compile_warm_s is not None:
        compile_s = f"{fmt(row.compile_cold_s, '.1f')}/{fmt(row.compile_warm_s, '.1f')} s"
        compile_s += f", {row.break_even}" if row.break_even is not None else ""
    memory = "-"
    if row.peak_memory:
        memory = mib(row.peak_memory[0]) + (" RSS" if row.peak_memory[1] == "rss-peak" else "")
    return {
        "case": row.case,
        f"{row.unit}/s": rate(row.items_per_s),
        "step ±run spread (runs)": f"{seconds(row.step_s)}{spread} ({row.runs})" if row.step_s else row.runs,
        "vs eager fp32": f"{row.speedup:.2f}x" if row.speedup else "-",
        "compile cold/warm, break-even steps": compile_s,
        "MFU %": fmt(row.mfu * 100 if row.mfu is not None else None, ".1f"),
        "latency p50/p99": f"{seconds(row.latency['p50'])}/{seconds(row.latency['p99'])}" if row.latency else "-",
        "prefill/decode tok/s": f"{rate(row.generation[0])}/{rate(row.generation[1])}" if row.generation else "-",
        "trainable": f"{row.trainable_fraction:.2%}" if row.trainable_fraction is not None else "-",
        "peak mem": memory,
        "status": "ok" if not row.flags else "[yellow]" + escape("; ".join(row.flags)) + "[/]",
    }


def render_summary(report: Report, out=None) -> None:
    out = out or console()
    rows = summary_rows(report)
    if not rows and report.cases:  # micro-benchmarks only
        return
    out.print(escape(f"ceilings: {describe(report.ceilings)}"))
    for model in dict.fromkeys(row.model for row in rows):
        table_rows = [cells(row) for row in rows if row.model == model]
        optional = ("compile cold/warm, break-even steps", "latency p50/p99", "prefill/decode tok/s", "trainable")
        columns = [c for c in table_rows[0] if c not in optional or any(r[c] != "-" for r in table_rows)]
        out.print(f"[bold]{model}[/] on {escape(report.device_name)} ({escape(report.label)})")
        table = Table()
        for column in columns:
            table.add_column(column, justify="left" if column in ("case", "status") else "right")
        for row in table_rows:
            table.add_row(*(row[c] for c in columns))
        out.print(table)


def render_distributed(report: Report, out=None) -> None:
    """Data-parallel figures: per-rank and global throughput, scaling efficiency, all-reduce bandwidth."""
    records = [r for r in report.cases if r.case.world_size > 1 and r.status is Status.OK and r.case.micro is None]
    rows = next((run.allreduce for r in report.cases for run in r.runs if run.allreduce), [])
    if not records and not rows:
        return
    out = out or console()
    table = Table(title="data-parallel (DDP under torchrun)", title_justify="left")
    for column in ("case", "world", "backend", "global", "1 process", "scaling efficiency"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for record in records:
        reference = report.items_per_s(record.case.sibling(world_size=1, dist_backend=None).key)
        efficiency = report.scaling_efficiency(record)
        table.add_row(record.key, str(record.case.world_size), record.case.dist_backend, rate(record.items_per_s),
                      rate(reference), fmt(efficiency * 100 if efficiency else None, ".1f") + " %")
    out.print(table)
    if rows:
        bandwidth = Table(title="all-reduce (nccl-tests definitions)", title_justify="left")
        for column in ("size", "time us", "algbw GB/s", "busbw GB/s"):
            bandwidth.add_column(column, justify="right")
        for row in rows:
            bandwidth.add_row(f"{row['bytes'] / 1024:,.0f} KiB", f"{row['time_s'] * 1e6:,.1f}",
                              f"{row['algbw_gbps']:.3f}", f"{row['busbw_gbps']:.3f}")
        out.print(bandwidth)


def render_outcome(outcome, prog: str, yardsticks: dict | None = None) -> None:
    """A finished (or stopped) run: each report's summary and path, the merged table of several
    setups, and how to finish a stopped run. ``yardsticks``: report path -> its cases against the fleet."""
    import signal
    import sys

    from bench.render.micro import render_micro

    if outcome.stopped_by is not None:
        print(f"\nstopped by {signal.Signals(outcome.stopped_by).name}: the run in progress was ended; "
              "writing what finished", flush=True)
    for report, path in outcome.reports:
        render_summary(report)
        render_distributed(report)
        render_micro(report, (yardsticks or {}).get(path))
        print(printable(f"report: {path}"))
    if len(outcome.reports) > 1:
        from bench.render.compare import render_merged

        render_merged([report for report, _ in outcome.reports], thresholds=outcome.thresholds)
    if outcome.journal is not None:
        print(printable(f"stopped: the finished runs are kept; finish with `{prog} run --resume {outcome.journal}`"))
    if outcome.error:
        print(printable(f"{prog}: error: {outcome.error}"), file=sys.stderr)
