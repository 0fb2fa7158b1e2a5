"""Baselines belong to hardware, not to a name (docs/measurement.md, rule 13).

A baseline is a folder named by the hardware fingerprint under the repository's
results/baselines/ (or --baselines DIR), holding several recorded reports: a new run
is judged against the spread of all their runs. `validate --record` adds one.

A set covers the hardware's drift only when its invocations come from several *sittings*
(recordings with at least config.SITTING_GAP_MIN minutes between one's end and the next's
start): invocations of one sitting share the machine's state, as rounds of one process do,
so they are counted once when the drift's degrees of freedom are counted.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from bench import config
from bench.analysis.stats import Drift, drift_estimate, pooled_drift, shrunk_drift
from bench.results.report import Report, ReportError
from envcheck.files import inside, write_atomic

ROOT = Path(__file__).resolve().parents[2]  # the checkout
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
    fingerprint = base.fingerprint.id
    folder = folder_for(root, fingerprint)
    if base.same_invocation(new) or fingerprint != new.fingerprint.id or not folder.is_dir():
        return None
    return hardware_drifts(load_baseline(folder), config.DRIFT_FLOOR_SD.get(base.device, 0.0)) or None


def set_drift(baseline: list[Report]) -> dict[str, Drift] | None:
    """The drift a baseline set carries, as validate uses it (the device class's floor, df per sitting)."""
    if not baseline:
        return None
    return hardware_drifts(baseline, config.DRIFT_FLOOR_SD.get(baseline[0].device, 0.0)) or None


def recorded_runs(reports: list[Report]) -> int:
    """Recorded invocations in a baseline (each report is one)."""
    return len(reports)


def _instant(stamp: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


@dataclasses.dataclass(frozen=True)
class Sitting:
    """Recorded invocations that followed one another within config.SITTING_GAP_MIN minutes."""

    started: datetime.datetime  # the first invocation's start
    ended: datetime.datetime  # the last invocation's end (its report's creation)
    invocations: int

    def describe(self) -> str:
        day = self.started.strftime("%Y-%m-%d")
        return f"{day} {self.started:%H:%M}-{self.ended:%H:%M} UTC ({self.invocations})"


def sittings(reports: list[Report], gap_min: float = config.SITTING_GAP_MIN) -> list[Sitting]:
    """The sittings of a baseline set, oldest first: an invocation starting less than ``gap_min`` minutes
    after the previous one ended belongs to its sitting. Times: each report's run.started and created."""
    spans = sorted((_instant(r.invocation.started), max(_instant(r.created), _instant(r.invocation.started)))
                   for r in reports)
    found: list[Sitting] = []
    for started, ended in spans:
        last = found[-1] if found else None
        if last and (started - last.ended).total_seconds() < gap_min * 60:
            found[-1] = Sitting(last.started, max(last.ended, ended), last.invocations + 1)
        else:
            found.append(Sitting(started, ended, 1))
    return found


@dataclasses.dataclass(frozen=True)
class Coverage:
    """How much of the hardware's drift a baseline set can show: its invocations and their sittings."""

    invocations: int
    sittings: tuple[Sitting, ...]
    gap_min: float = config.SITTING_GAP_MIN
    needed: int = config.MIN_BASELINE_SITTINGS

    @property
    def enough(self) -> bool:
        return len(self.sittings) >= self.needed

    def describe(self) -> str:
        return (f"{self.invocations} recorded invocation(s) in {len(self.sittings)} sitting(s) at least "
                f"{self.gap_min:g} min apart" + (": " + ", ".join(s.describe() for s in self.sittings)
                                                  if self.sittings else ""))

    def shortfall(self) -> str | None:
        """Why the set cannot judge speed yet, with the fix; None when it covers enough sittings."""
        if self.enough:
            return None
        missing = self.needed - len(self.sittings)
        return (f"the baseline holds {self.describe()}; fewer than {self.needed} sittings cannot show how far this "
                f"hardware drifts between sittings: record {missing} more sitting(s) at least {self.gap_min:g} "
                "min apart: python -m bench validate --record")


def coverage(reports: list[Report], gap_min: float = config.SITTING_GAP_MIN,
             needed: int = config.MIN_BASELINE_SITTINGS) -> Coverage:
    return Coverage(len(reports), tuple(sittings(reports, gap_min)), gap_min, needed)


def hardware_drifts(baseline: list[Report], floor_sd: float = 0.0,
                    gap_min: float = config.SITTING_GAP_MIN) -> dict[str, Drift]:
    """The drift between the recorded invocations of a baseline set: '*' is the hardware's, pooled over its
    cases, and each case has its own shrunk toward it (stats.shrunk_drift: never below the pooled one);
    none is below ``floor_sd`` (the device class's, config.DRIFT_FLOOR_SD). Degrees of freedom: one less
    than the set's sittings (at most its invocations' less one; at least 1), since invocations of one
    sitting are not independent evidence of how far the next sitting moves."""
    from bench.results.records import Status

    keys = dict.fromkeys(r.key for report in baseline for r in report.ok_cases())
    estimates = {}
    for key in keys:
        runs = [r.run_step_s for report in baseline if (r := report.find(key)) and r.status is Status.OK]
        if (estimate := drift_estimate(runs)) is not None:
            estimates[key] = estimate
    pooled = pooled_drift(list(estimates.values()))
    if pooled is None:
        return {}
    df = max(1, min(pooled.df, len(sittings(baseline, gap_min)) - 1))
    floor = floor_sd**2
    found = {key: shrunk_drift(estimate, pooled, floor, df) for key, estimate in estimates.items()}
    found["*"] = shrunk_drift(None, pooled, floor, df)
    return found


def recordable(report: Report, decision_name: str) -> str | None:
    """Why ``validate --record`` must not add this report to the baseline, or None: every run that is not
    broken and not noisy is recorded (keeping only healthy ones would bias the set's spread narrow), but
    not one measured while the GPU slowed itself down (a hardware finding, not the hardware's drift)."""
    if report.invocation.interrupted:
        return "the invocation was interrupted: a part of a suite is not a sitting"
    if decision_name == "broken":
        return "the run is broken"
    if noisy := report.cases_noisy():
        reasons = "; ".join(dict.fromkeys(reason for r in noisy for reason in r.noise_reasons))
        return (f"the machine was busy during {len(noisy)} case(s) ({reasons}); a baseline holds quiet runs only: "
                "record again on a quiet machine")
    if findings := [r.key for r in report.cases if r.hardware_findings]:
        return f"the hardware slowed itself down during {', '.join(findings)}"
    return None
