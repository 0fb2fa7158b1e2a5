"""`python -m bench`: argparse -> request -> execute -> render, one thin cmd_* per verb.

run       0 every case ok or skipped; 1 a case failed, ran out of memory, timed out or crashed,
          or the disk filled; 128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM), reports written
compare   1 when --fail-above trips on a significant regression
validate  0 healthy, 1 broken, 3 degraded, 4 inconclusive
all       2 on bad input: one line, no traceback, nothing already written is lost
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench import config
from bench.cli import PROG, build_parser
from envcheck.cli import EXIT_FAIL, EXIT_OK, UsageError, exit_usage
from envcheck.text import printable


def finish_run(outcome) -> int:
    from bench.render.run import render_outcome

    render_outcome(outcome, PROG)
    if outcome.stopped_by is not None:
        return 128 + outcome.stopped_by
    return EXIT_FAIL if outcome.broken or outcome.error else EXIT_OK


def cmd_run(args) -> int:
    from bench.execute import execute, resume
    from bench.journal import JournalError
    from bench.plan import list_cases
    from bench.render.progress import PrintProgress
    from bench.request import RunRequest
    from bench.workdir import WorkDirError

    if args.resume is not None:
        try:
            return finish_run(resume(args.resume, PrintProgress()))
        except (JournalError, WorkDirError) as error:
            raise UsageError(str(error)) from None
    request = RunRequest.from_args(args)
    if args.list:
        for key, reason in list_cases(request):
            print(key + (f"  (skipped: {reason})" if reason else ""))
        return EXIT_OK
    return finish_run(execute(request, PrintProgress()))


def load(paths: list[Path]):
    """Every report of each path (a report, or a folder of them); a folder holding none is a usage error."""
    from bench.baselines import load_baseline
    from bench.report import ReportError

    reports = []
    for path in paths:
        try:
            found = load_baseline(path)
        except ReportError as error:
            raise UsageError(str(error)) from None
        if not found:
            raise UsageError(f"{path}: a folder with no report (*.json); expected a torchrig report or a folder "
                             "of them")
        reports += found
    return reports


def refuse_same(base_path: Path, bases, new_path: Path, new) -> None:
    """A report compared with itself (the same file, or one of the base's reports byte for byte in content)
    would be judged as if its runs were two sides: refused."""
    import os

    same_file = base_path.is_file() and new_path.is_file() and os.path.samefile(base_path, new_path)
    if same_file or any(base.same_as(new) for base in bases):
        raise UsageError(f"{new_path} is the same report as {base_path if same_file else 'one in ' + str(base_path)}; "
                         "expected two different runs to compare")


def cmd_compare(args) -> int:
    from bench.baselines import BASELINES, drift_between
    from bench.compare import compare_reports
    from bench.render.compare import render_comparison

    if args.fail_above is not None and args.fail_above < 0:
        raise UsageError(f"--fail-above must be >= 0, got {args.fail_above}")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1, got {args.alpha}")
    bases, news = load([args.base]), [(path, load([path])[0]) for path in args.new]
    exit_code = EXIT_OK
    for path, new in news:
        refuse_same(args.base, bases, path, new)
    for path, new in news:
        margin = args.fail_above if args.fail_above is not None else config.EQUIVALENCE_MARGIN_PCT
        drift = drift_between(bases[0], new, args.baselines or BASELINES) if len(bases) == 1 else None
        comparison = compare_reports(bases, new, base_name=str(args.base), new_name=str(path), alpha=args.alpha,
                                     margin_pct=margin, drift=drift)
        if not comparison.cases:
            raise UsageError(f"{args.base} and {path} share no case; nothing to compare (another suite or device?)")
        render_comparison(comparison)
        regressions = comparison.regressions(args.fail_above) if args.fail_above is not None else []
        if regressions:
            worst = ", ".join(f"{r.key} {r.change_pct:+.1f}%" for r in regressions)
            print(printable(f"compare: FAIL: {len(regressions)} case(s) significantly slower by more than "
                            f"{args.fail_above:g}%: {worst}"))
            exit_code = EXIT_FAIL
    return exit_code


def cmd_summary(args) -> int:
    from bench.render.compare import render_merged
    from bench.render.run import render_summary

    reports = load(args.files)
    render_summary(reports[0]) if len(reports) == 1 else render_merged(reports)
    return EXIT_OK


def cmd_report(args) -> int:
    from bench.plots import check_report_dir, write_report_dir
    from envcheck.files import OutputError

    reports = load(args.files)
    try:
        check_report_dir(args.out)
        for path in write_report_dir(reports, args.out):
            print(f"wrote {path}")
    except OutputError as error:
        raise UsageError(str(error)) from None
    return EXIT_OK


def cmd_validate(args) -> int:
    from bench.baselines import BASELINES
    from bench.render.progress import PrintProgress
    from bench.request import RunRequest
    from bench.validate import ValidateRequest, validate

    request = ValidateRequest(RunRequest.from_args(args), args.baseline, args.baselines or BASELINES, args.fail_above,
                              args.record, args.junit_xml)
    result = validate(request, PrintProgress())
    if result.recorded:
        print(printable(f"validate: recorded {result.recorded}"))
    elif result.not_recorded:
        print(printable(f"validate: not recorded: {result.not_recorded}"))
    print(printable(result.decision.line))
    return result.decision.exit_code


def cmd_tta(args) -> int:
    from bench.render.progress import PrintProgress
    from bench.render.tta import render_tta
    from bench.tta import TtaRequest, run_tta

    request = TtaRequest(tuple(args.recipes), args.target, args.finetune_target, args.data, args.data_dir,
                         args.download, args.loader_workers, args.out, args.device)
    document = run_tta(request, PrintProgress())
    path = document.dump(request.path())
    render_tta(document)
    print(f"report: {path}")
    return EXIT_OK


COMMANDS = {"run": cmd_run, "compare": cmd_compare, "summary": cmd_summary, "report": cmd_report,
            "validate": cmd_validate, "tta": cmd_tta}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as error:
        exit_usage(PROG, error)
    except ModuleNotFoundError as error:  # an environment without the project's dependencies
        exit_usage(PROG, UsageError(f"missing package {error.name!r}: install torchrig's dependencies "
                                    "(pip install -e .) or run `python -m envcheck`"))


if __name__ == "__main__":
    sys.exit(main())
