"""`python -m bench validate`: one verdict for CI, healthy, degraded or broken.

envcheck (with --require-cuda on a GPU) + a suite + a comparison against the
committed baseline for this hardware, results/baselines/<device-name>.json.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

BASELINES = Path("results") / "baselines"
EXIT_HEALTHY, EXIT_BROKEN, EXIT_DEGRADED = 0, 1, 3


@dataclasses.dataclass(frozen=True)
class Verdict:
    name: str  # healthy, degraded, broken
    line: str
    exit_code: int


def decide(env_failures: list[str], bad_cases: list[str], comparison, fail_above: float,
           baseline: Path | None, suggestion: str) -> Verdict:
    """The verdict from what envcheck failed, which cases broke, and the comparison (None: no baseline)."""
    if env_failures or bad_cases:
        broken = [f"envcheck FAIL: {', '.join(env_failures)}"] if env_failures else []
        broken += [f"cases not measured: {', '.join(bad_cases)}"] if bad_cases else []
        return Verdict("broken", "validate: broken: " + "; ".join(broken), EXIT_BROKEN)
    if comparison is None:
        return Verdict("healthy", f"validate: healthy (WARN: no baseline for this hardware at {baseline}; "
                                  f"record one with: {suggestion})", EXIT_HEALTHY)
    regressions = comparison.regressions(fail_above)
    if regressions:
        slow = ", ".join(f"{r.label} {r.change_pct:+.1f}%" for r in regressions)
        return Verdict("degraded", f"validate: degraded: {len(regressions)} case(s) significantly slower than "
                                   f"{baseline} by more than {fail_above:g}%: {slow}", EXIT_DEGRADED)
    compared = sum(1 for c in comparison.cases if c.ratio is not None)
    return Verdict("healthy", f"validate: healthy: {compared} cases within {fail_above:g}% of {baseline} "
                              "(or not significantly slower)", EXIT_HEALTHY)


def validate(args, run_suite) -> int:
    from bench.compare import compare_reports
    from bench.storage import ReportError, device_name, load_report
    from bench.summary import render_comparison, render_summary
    from envcheck import CheckOptions, Status, build_report
    from envcheck.render import render

    env_report = build_report(CheckOptions(require_cuda=args.device == "cuda" or _has_cuda()))
    render(env_report)
    env_failures = [r.name for r in env_report.checks if r.status is Status.FAIL]
    report, path, outcome = run_suite(args, args.suite, args.device, args.out)
    render_summary(report)
    print(f"report: {path}")
    bad_cases = [r.case.id for r in outcome.results if r.status not in ("ok", "skipped")]
    device = report["torchrig"]["run"]["device"]
    baseline = args.baseline or BASELINES / f"{device_name(report['torchrig']['environment']['facts'], device)}.json"
    comparison = None
    if baseline.is_file():
        try:
            comparison = compare_reports(load_report(baseline), report, base_name=str(baseline), new_name=str(path))
        except ReportError as error:
            print(f"validate: cannot use the baseline: {error}")
        else:
            render_comparison(comparison)
    from bench.config import VALIDATE_FAIL_ABOVE_PCT

    fail_above = args.fail_above if args.fail_above is not None else VALIDATE_FAIL_ABOVE_PCT[device]
    verdict = decide(env_failures, bad_cases, comparison, fail_above, baseline, f"cp {path} {baseline}")
    print(verdict.line)
    return verdict.exit_code


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
