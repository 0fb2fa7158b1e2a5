"""`python -m bench validate`: one verdict for CI about this machine.

envcheck + a suite + a comparison against this hardware's baseline set (found by
fingerprint in the repository's results/baselines/, whatever the current directory).
Verdicts and exit codes (docs/measurement.md, rule 14): healthy 0 (every case's one-sided bound rules
out a slowdown beyond the threshold), broken 1 (envcheck FAIL or a case not measured), degraded 3 (a
one-sided test, Holm-adjusted over the cases, shows a case slower than 1 - threshold), inconclusive 4
(no or too few baseline runs, no case in common, or a case noisy or undecided; --allow-undecided makes
it 0). --until-decided adds runs to the undecided cases within --budget minutes (bench/run/execute.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench import config
from bench.analysis.baselines import BASELINES, Coverage, folder_for, load_baseline
from bench.analysis.compare import Comparison, Verdict
from bench.results.records import Status
from bench.results.report import Report, ReportError
from bench.run.request import InvocationRequest, RequestError
from envcheck.files import OutputError
from envcheck.junit import check_junit_path

EXIT_HEALTHY, EXIT_BROKEN, EXIT_DEGRADED, EXIT_INCONCLUSIVE = 0, 1, 3, 4
TOOL = "torchrig.validate"


@dataclasses.dataclass(frozen=True)
class ValidateRequest:
    """validate's arguments, checked before envcheck or any case runs."""

    invocation: InvocationRequest
    baseline: Path | None = None  # a report or a baseline folder; default: by fingerprint under baselines
    baselines: Path = BASELINES
    fail_above: float | None = None  # percent; default per device (config.VALIDATE_FAIL_ABOVE_PCT)
    record: bool = False
    junit_xml: Path | None = None
    checks: tuple[str, ...] | None = None  # envcheck checks to run (a tier's list); None: every check

    def __post_init__(self) -> None:
        if error := config.fail_above_error(self.fail_above):
            raise RequestError(error)
        if self.invocation.setups or self.invocation.launch:
            raise RequestError("validate measures this interpreter on one process (no --setup, no --nproc-per-node)")

    def check_disk(self) -> None:
        """The baseline named exists, the JUnit file may be written, and the invocation's own needs."""
        if self.baseline is not None and not self.baseline.exists():
            raise RequestError(f"--baseline {self.baseline}: no such file or folder")
        if self.junit_xml is not None:
            try:
                check_junit_path(self.junit_xml, TOOL)
            except OutputError as error:
                raise RequestError(str(error)) from None
        self.invocation.check_disk()

    def threshold(self, device: str) -> float:
        return self.fail_above if self.fail_above is not None else config.VALIDATE_FAIL_ABOVE_PCT[device]

    def baseline_location(self, fingerprint_id: str) -> Path:
        return self.baseline or folder_for(self.baselines, fingerprint_id)


def load_baseline_for(request: ValidateRequest, fingerprint_id: str) -> tuple[Path, list[Report]]:
    """The baseline reports for this hardware, loaded and checked before anything runs (RequestError)."""
    location = request.baseline_location(fingerprint_id)
    if not location.exists():
        return location, []
    try:
        return location, load_baseline(location)
    except ReportError as error:
        raise RequestError(f"cannot use the baseline: {error}") from None


@dataclasses.dataclass(frozen=True)
class Decision:
    name: str  # healthy, broken, degraded, inconclusive
    line: str
    exit_code: int


def decide(env_failures: list[str], broken_cases: list[str], comparison: Comparison | None, fail_above: float,
           baseline: Path, baseline_runs: int, coverage: Coverage | None = None,
           hardware_findings: dict[str, list[str]] | None = None) -> Decision:
    """The verdict from what envcheck failed, which cases broke, and the comparison (None: no baseline).
    ``coverage``: the baseline set's sittings; fewer than config.MIN_BASELINE_SITTINGS is not yet enough.
    ``hardware_findings``: case -> what the GPU did to itself (thermal, hardware, power-brake slowdown):
    degraded whatever the baseline says, since the hardware, not the load, is at fault."""
    if env_failures or broken_cases:
        parts = [f"envcheck FAIL: {', '.join(env_failures)}"] if env_failures else []
        parts += [f"cases not measured: {', '.join(broken_cases)}"] if broken_cases else []
        return Decision("broken", "validate: broken: " + "; ".join(parts), EXIT_BROKEN)
    if found := {key: reasons for key, reasons in (hardware_findings or {}).items() if reasons}:
        listed = "; ".join(f"{key}: {', '.join(reasons)}" for key, reasons in found.items())
        return Decision("degraded", f"validate: degraded: the hardware slowed itself down during {len(found)} "
                                    f"case(s): {listed}; check cooling and power (`nvidia-smi -q -d "
                                    "PERFORMANCE,TEMPERATURE,POWER`)", EXIT_DEGRADED)
    if comparison is None or baseline_runs == 0:
        return Decision("inconclusive", f"validate: inconclusive: no baseline for this hardware at {baseline}; "
                                        f"record {config.MIN_BASELINE_SITTINGS} sittings at least "
                                        f"{config.SITTING_GAP_MIN:g} min apart: python -m bench validate --record",
                        EXIT_INCONCLUSIVE)
    if not comparison.cases:
        return Decision("inconclusive", f"validate: inconclusive: the baseline {baseline} shares no case with this "
                                        "invocation (another suite or device?)", EXIT_INCONCLUSIVE)
    regressions = comparison.regressions()
    slow = ", ".join(f"{r.key} {r.change_pct:+.1f}%" for r in regressions)
    seen = f"; apparently slower: {slow}" if regressions else ""
    if coverage is not None and (shortfall := coverage.shortfall()):
        return Decision("inconclusive", f"validate: inconclusive: {shortfall}{seen}", EXIT_INCONCLUSIVE)
    if baseline_runs < config.MIN_BASELINE_RUNS:
        return Decision("inconclusive", f"validate: inconclusive: the baseline has {baseline_runs} recorded "
                                        f"invocation(s), fewer than {config.MIN_BASELINE_RUNS}: its spread between "
                                        f"invocations is unknown; add one with --record{seen}", EXIT_INCONCLUSIVE)
    if regressions:
        return Decision("degraded", f"validate: degraded: {len(regressions)} case(s) significantly slower than "
                                    f"{baseline} by more than {fail_above:g}%: {slow}", EXIT_DEGRADED)
    cases = len(comparison.cases)
    undecided = comparison.undecided
    if undecided:
        noisy = sum(1 for c in undecided if c.verdict is Verdict.NOISY)
        tells = [c.mde_pct for c in undecided if c.mde_pct is not None]
        parts = [f"the machine was busy during {noisy} case(s) (see their noise): run again on a quiet machine"] \
            if noisy else []
        if len(undecided) > noisy:
            could = f"; at this spread they could tell >= {min(tells):.0f}%" if tells else ""
            parts.append(f"{len(undecided) - noisy} case(s) neither shown slower nor ruled out slower beyond "
                         f"{fail_above:g}%{could}: add runs (--until-decided, --runs) or quiet the machine")
        return Decision("inconclusive", f"validate: inconclusive: {comparison.decided} of {cases} cases decided; "
                                        + "; ".join(parts), EXIT_INCONCLUSIVE)
    runs = coverage.describe() if coverage is not None else f"{baseline_runs} baseline runs"
    return Decision("healthy", f"validate: healthy: all {cases} cases against {runs} at {baseline} rule out a "
                               f"slowdown beyond {fail_above:g}%", EXIT_HEALTHY)


def broken_cases(report) -> list[str]:
    return [r.key for r in report.cases if r.status.broken]


def junit_suites(env_report, comparison: Comparison | None, report, decision: Decision, fail_above: float) -> dict:
    """envcheck's checks and one testcase per case, plus the verdict, for CI systems."""
    from envcheck.__main__ import junit_cases
    from envcheck.junit import TestCase

    rows = {c.key: c for c in comparison.cases} if comparison else {}
    degraded = {c.key for c in comparison.regressions()} if comparison else set()
    cases = []
    for record in report.cases:
        row = rows.get(record.key)
        if record.status.broken:
            cases.append(TestCase("validate", record.key, "failure", f"{record.status.value}: {record.reason}"))
        elif record.status is Status.SKIPPED:
            cases.append(TestCase("validate", record.key, "skipped", record.reason or ""))
        elif row is None:
            cases.append(TestCase("validate", record.key, "skipped", "not in the baseline"))
        elif record.key in degraded:
            cases.append(TestCase("validate", record.key, "failure", f"slower beyond {fail_above:g}%: {row.why}"))
        elif row.verdict in (Verdict.NOISY, Verdict.INCONCLUSIVE, Verdict.NOT_COMPARABLE):
            cases.append(TestCase("validate", record.key, "skipped", f"{row.verdict.value}: {row.why}"))
        else:
            cases.append(TestCase("validate", record.key, "passed", "", f"{row.verdict.value}: {row.why}"))
    outcome = {"healthy": "passed", "inconclusive": "skipped"}.get(decision.name, "failure")
    cases.append(TestCase("validate", "verdict", outcome, decision.line))
    return {"envcheck": junit_cases(env_report), "validate": cases}


@dataclasses.dataclass
class Validation:
    decision: Decision
    report_path: Path | None
    recorded: Path | None
    not_recorded: str | None = None  # why --record did not record the run
    env_report: object | None = None  # envcheck's EnvReport of this validate (the results database keeps it)


def validate(request: ValidateRequest, progress, listener=None) -> Validation:
    """envcheck, the suite, the comparison; ``progress.show`` renders each part as it is ready; ``listener``
    (bench/run/plan.py's Listener) keeps the invocation as it goes."""
    from bench.analysis.baselines import coverage, record, recordable, recorded_runs, set_drift
    from bench.analysis.compare import compare_reports
    from bench.run.execute import execute
    from bench.run.plan import resolve_device
    from envcheck import CheckOptions, build_report, snapshot
    from envcheck.fingerprint import hardware_fingerprint
    from envcheck.junit import write_junit

    request.check_disk()
    environment = snapshot()
    device = resolve_device(request.invocation.device, environment, "")  # --device cuda without CUDA: exit 2 here
    location, baseline = load_baseline_for(request, hardware_fingerprint(environment.facts, device).id)
    env_report = build_report(CheckOptions(require_cuda=device == "cuda"), only=request.checks)
    progress.show(env_report)
    threshold = request.threshold(device)
    judge = None
    drift = set_drift(baseline)
    covered = coverage(baseline)
    if request.invocation.until_decided and recorded_runs(baseline) >= config.MIN_BASELINE_RUNS and covered.enough:
        def judge(reports):  # the run so far against the baseline, at validate's threshold
            return [compare_reports(baseline, reports[0], margin_pct=threshold, fail_above_pct=threshold,
                                    drift=drift)]
    elif request.invocation.until_decided:
        progress.note("--until-decided: the baseline cannot decide yet (" + (covered.shortfall() or
                      f"fewer than {config.MIN_BASELINE_RUNS} recorded invocations") + "); measuring the planned "
                      "runs only")
        judge = lambda reports: []  # noqa: E731
    outcome = execute(request.invocation, progress, judge, listener)
    if outcome.stopped_by is not None:  # a partial run is no verdict about the machine, and no baseline
        where = f"; what finished is in {outcome.journal}" if outcome.journal else ""
        return Validation(Decision("stopped", f"validate: stopped by signal {outcome.stopped_by} before its verdict"
                                              f"{where}", 128 + outcome.stopped_by), None, None)
    if outcome.error or not outcome.reports:
        return Validation(Decision("broken", f"validate: broken: {outcome.error or 'no report was written'}",
                                   EXIT_BROKEN), None, None)
    report, path = outcome.reports[0]
    progress.show(report)
    comparison = None
    if baseline:
        comparison = compare_reports(baseline, report, base_name=str(location), new_name=str(path),
                                     margin_pct=threshold, fail_above_pct=threshold, drift=drift)
        progress.show(comparison)
    env_failures = [r.name for r in env_report.checks if r.status.value == "FAIL"]
    if baseline:
        progress.note(f"baseline {location}: {covered.describe()}")
    decision = decide(env_failures, broken_cases(report), comparison, threshold, location, recorded_runs(baseline),
                      covered, {r.key: r.hardware_findings for r in report.cases})
    recorded, not_recorded = None, None
    if request.record:
        not_recorded = recordable(report, decision.name)
        if not_recorded is None:
            recorded = record(path, location)
    if request.junit_xml is not None:
        try:
            write_junit(request.junit_xml, TOOL, junit_suites(env_report, comparison, report, decision, threshold))
        except OutputError as error:
            progress.note(f"cannot write the JUnit XML: {error}")
    return Validation(decision, path, recorded, not_recorded, env_report)
