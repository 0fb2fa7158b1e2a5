"""Progress lines of a run, one per run of a case, as they finish."""

from __future__ import annotations

import sys

from bench.render.common import rate
from bench.results.records import RunRecord, Status
from envcheck.text import printable


class PrintProgress:
    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def write(self, text: str, end: str = "\n") -> None:
        print(printable(text), end=end, file=self.stream, flush=True)  # case keys and reasons come from journals

    def note(self, text: str) -> None:
        self.write(f"torchrig bench: {text}")

    def started(self, number, total, setup, case, index) -> None:
        who = f"{setup.label}: " if setup.label else ""
        where = f"{number:>3}/{total}" if number <= total else f"{number:>3}, added"  # --until-decided's pairs
        self.write(f"[{where}] {who}{case.key} run {index + 1} ...", end="")

    def finished(self, record: RunRecord) -> None:
        if record.status is Status.OK:
            text = f" ok {rate(record.items_per_s)} {record.workload.unit}/s"
            if record.compile is not None:
                text += f", compile {record.compile.seconds:.1f} s ({record.compile.cache})"
            if record.noisy:
                text += f" [noisy: {'; '.join(record.noise.reasons)}]"
        else:
            text = f" {record.status.value}: {record.reason}"
        duration = f" ({record.duration_s:.1f} s)" if record.duration_s is not None else ""
        self.write(text + duration)

    def show(self, thing) -> None:
        """Render a finished part of a longer job (validate): envcheck, a run's summary, a comparison."""
        from bench.analysis.compare import Comparison
        from bench.render.compare import render_comparison
        from bench.render.run import render_summary
        from bench.results.report import Report
        from envcheck.render import render
        from envcheck.report import EnvReport

        if isinstance(thing, EnvReport):
            render(thing)
        elif isinstance(thing, Report):
            render_summary(thing)
        elif isinstance(thing, Comparison):
            render_comparison(thing)
