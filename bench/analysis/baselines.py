"""Baselines belong to hardware, not to a name (docs/measurement.md, rule 13).

A baseline is a folder named by the hardware fingerprint under the repository's
results/baselines/ (or --baselines DIR), holding several recorded reports: a new run
is judged against the spread of all their runs. `validate --record` adds one.
"""

from __future__ import annotations

from pathlib import Path

from bench.results.report import Report, ReportError
from envcheck.files import inside, write_atomic

ROOT = Path(__file__).resolve().parent.parent
BASELINES = ROOT / "results" / "baselines"


def folder_for(root: Path, fingerprint_id: str) -> Path:
    return inside(Path(root), fingerprint_id)


def load_baseline(path: Path) -> list[Report]:
    """A baseline file, or every report in a baseline folder (oldest first); ReportError if unusable."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if path.is_dir() and not files:
        return []
    reports = [Report.load(file) for file in files]
    for file, report in zip(files, reports, strict=True):
        if not report.ok_cases():
            raise ReportError(f"{file}: no measured case; a baseline needs ok cases")
    return reports


def record(report_file: Path, folder: Path) -> Path:
    """Copy a report into the baseline folder, atomically and never over an earlier one."""
    target = Path(folder) / Path(report_file).name
    return write_atomic(target, Path(report_file).read_bytes(), overwrite=False)


def drift_between(base: Report, new: Report, root: Path = BASELINES):
    """The drift between invocations of the hardware both reports ran on, from its baseline set; None when
    they are one invocation (interleaved), ran on different hardware, or the hardware has no set."""
    from bench.analysis.compare import drifts, same_invocation

    fingerprint = base.fingerprint.id
    folder = folder_for(root, fingerprint)
    if same_invocation(base, new) or fingerprint != new.fingerprint.id or not folder.is_dir():
        return None
    return drifts(load_baseline(folder)) or None


def recorded_runs(reports: list[Report]) -> int:
    """Recorded invocations in a baseline (each report is one)."""
    return len(reports)
