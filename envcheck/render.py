"""Human-readable output of an EnvReport with rich. Formatting lives here only."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from envcheck.console import SafeConsole
from envcheck.facts import Facts
from envcheck.records import Status
from envcheck.report import EnvReport

STYLES = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}


def gib(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**30:.1f} GiB"


def fact_rows(facts: Facts) -> list[tuple[str, str]]:
    rows = [
        ("python", f"{facts.python.implementation} {facts.python.version} ({facts.python.executable})"),
        ("os", f"{facts.system.os}, kernel {facts.system.kernel}, {facts.system.libc or 'libc ?'}"),
        ("cpu", f"{facts.cpu.model or '?'}: {facts.cpu.physical_cores} cores / "
                f"{facts.cpu.logical_cores} threads, RAM {gib(facts.cpu.ram_bytes)}"),
        ("c++ compiler", facts.system.cxx_compiler or "none found"),
    ]
    torch = facts.torch
    if torch is None:
        rows.append(("torch", f"not importable: {facts.torch_error}"))
    else:
        rows += [
            ("torch", f"{torch.version} (git {(torch.git_version or '?')[:10]}, "
                      f"debug={torch.debug})"),
            ("cuda build", f"{torch.cuda_build or 'none (CPU-only)'}, cuDNN {torch.cudnn_version}, "
                           f"NCCL {torch.nccl_version}"),
            ("cpu backends", f"MKL={torch.mkl} MKLDNN={torch.mkldnn} OpenMP={torch.openmp}"),
            ("torchvision", facts.torchvision_version or f"not importable: {facts.torchvision_error}"),
        ]
    nvml = facts.nvml
    rows.append(("nvidia driver", f"{nvml.driver_version} (CUDA {nvml.driver_cuda_version})"
                 if nvml.driver_version else f"none ({nvml.error})"))
    for gpu in facts.gpus:
        rows.append((f"gpu{gpu.index}", f"{gpu.name}, sm_{gpu.capability[0]}{gpu.capability[1]}, "
                                        f"{gib(gpu.memory_bytes)}, {gpu.sm_count} SMs"))
    for key, value in facts.env.items():
        rows.append((f"${key}", value))
    return rows


def render(report: EnvReport, console: Console | None = None) -> None:
    console = console or SafeConsole(width=None if Console().is_terminal else 160)
    facts = Table(title="Environment", show_header=False, title_justify="left")
    facts.add_column("fact", style="bold")
    facts.add_column("value", overflow="fold")
    for name, value in fact_rows(report.facts):
        facts.add_row(name, Text(value))  # Text: a path or message with [brackets] is not markup
    console.print(facts)

    checks = Table(title="Checks", title_justify="left")
    for column in ("status", "check", "detail", "fix"):
        checks.add_column(column, overflow="fold")
    for result in report.checks:
        style = STYLES[result.status]
        checks.add_row(f"[{style}]{result.status.value}[/]", Text(result.name), Text(result.detail),
                       Text(result.fix or ""))
    console.print(checks)
    counts = ", ".join(f"{n} {status}" for status, n in report.counts.items())
    verdict = report.verdict
    meaning = {Status.PASS: "healthy", Status.WARN: "usable, with warnings",
               Status.FAIL: "broken"}[verdict]
    console.print(f"envcheck: [{STYLES[verdict]}]{verdict.value}[/] ({meaning}): {counts}")
