"""`python -m bench`: argparse -> request -> execute -> render, one thin cmd_* per verb.

run       0 every case ok or skipped (the matrix informs; compare and validate gate); 1 a case failed, ran
          out of memory, timed out or crashed, or the disk filled; 128+N stopped by signal N (130 Ctrl-C,
          143 SIGTERM), reports written
compare   0 every case decided and none slower; 1 a case shown slower (beyond --fail-above, else by more
          than 1 %); 4 undecided: a case inconclusive, noisy or not comparable and none slower, or separate
          invocations whose drift is unknown (--allow-undecided makes 4 a 0)
validate  0 healthy, 1 broken, 3 degraded, 4 inconclusive (--allow-undecided makes 4 a 0)
all       2 on bad input: one line, no traceback, nothing already written is lost
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench import config
from bench.cli import PROG, build_parser
from bench.config import RequestError
from envcheck.cli import EXIT_FAIL, EXIT_OK, UsageError, exit_usage
from envcheck.text import printable


def database_url(args):
    """The results database of --db, else TORCHRIG_DB, else OUT/torchrig.db beside the reports (results/ by
    default); None with --no-db. A bad --db is a usage error before anything runs."""
    if getattr(args, "no_db", False):
        if args.db:
            raise UsageError("--db and --no-db contradict each other; pass one")
        return None
    out = getattr(args, "out", None)
    try:
        from bench.store.database import StoreUsageError, resolve_url
    except ModuleNotFoundError:  # no sqlalchemy here: the run goes on, and record() says how to upload later
        return args.db or config.DB_DEFAULT
    try:
        return resolve_url(args.db, default=str(Path(out) / config.DB_FILE) if out is not None else None)
    except StoreUsageError as error:
        raise UsageError(str(error)) from None


def record(url, reports, kind: str = "run", verdict=None, env_report=None) -> None:
    """Record finished reports beside their JSON (a failure says how to upload later; the run's exit stays)."""
    if url is None or not reports:
        return
    try:
        from bench.store.recorder import record_reports
    except ModuleNotFoundError as error:  # an environment without the database's packages: the report stays
        paths = " ".join(str(path) for _, path in reports)
        print(printable(f"results database: not recorded (missing package {error.name!r}: pip install sqlalchemy "
                        f"alembic); upload it later with `python -m bench db import {paths}`"))
        return
    for line in record_reports(url, reports, kind, verdict, env_report).lines:
        print(printable(line))


def finish_invocation(outcome, url=None) -> int:
    from bench.render.run import render_outcome

    render_outcome(outcome, PROG)
    record(url, outcome.reports)
    if outcome.stopped_by is not None:
        return 128 + outcome.stopped_by
    return EXIT_FAIL if outcome.broken or outcome.error else EXIT_OK


def cmd_run(args) -> int:
    from bench.render.progress import PrintProgress
    from bench.results.journal import JournalError
    from bench.run.execute import execute, resume
    from bench.run.plan import list_cases
    from bench.run.request import InvocationRequest
    from bench.run.workdir import WorkDirError

    url = database_url(args)
    if args.resume is not None:
        try:
            return finish_invocation(resume(args.resume, PrintProgress()), url)
        except (JournalError, WorkDirError) as error:
            raise UsageError(str(error)) from None
    request = InvocationRequest.from_args(args)
    if request.until_decided and len(request.setups) < 2:
        raise UsageError("--until-decided compares interleaved setups: pass --setup A=PYTHON --setup B=PYTHON "
                         "(or use `validate --until-decided` against a baseline)")
    if args.list:
        for key, reason in list_cases(request):
            print(key + (f"  (skipped: {reason})" if reason else ""))
        return EXIT_OK
    return finish_invocation(execute(request, PrintProgress()), url)


def load(paths: list[Path]):
    """Every report of each path (a report, or a folder of them); a folder holding none is a usage error."""
    from bench.analysis.baselines import load_baseline
    from bench.results.report import ReportError

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


EXIT_UNDECIDED = 4


def cmd_compare(args) -> int:
    from bench.analysis.baselines import BASELINES, drift_between, set_drift
    from bench.analysis.compare import CompareRequest, compare_reports
    from bench.render.compare import render_comparison
    from bench.results.report import ReportError

    options = CompareRequest(args.fail_above, args.alpha)
    if args.baseline_from_history is not None:
        return compare_with_history(args, options)
    if not args.new:
        raise UsageError("compare needs BASE and NEW reports (or --baseline-from-history NEW...)")
    bases, news = load([args.base]), [(path, load([path])[0]) for path in args.new]
    codes = []
    for path, new in news:
        refuse_same(args.base, bases, path, new)
    for path, new in news:
        try:  # against one report: the hardware's set from disk; against a set: the set's own (as validate)
            drift = drift_between(bases[0], new, args.baselines or BASELINES) if len(bases) == 1 else set_drift(bases)
        except ReportError as error:
            raise UsageError(f"cannot read this hardware's baseline set for its drift: {error}") from None
        comparison = compare_reports(bases, new, base_name=str(args.base), new_name=str(path), drift=drift,
                                     **options.thresholds())
        if not comparison.cases:
            raise UsageError(f"{args.base} and {path} share no case; nothing to compare (another suite or device?)")
        render_comparison(comparison)
        codes.append(compare_verdict(comparison, args.allow_undecided))
    return EXIT_FAIL if EXIT_FAIL in codes else max(codes)


def compare_with_history(args, options) -> int:
    """Each report against the last N invocations on its hardware in the results database (at least
    config.MIN_BASELINE_SITTINGS sittings, else undecided: the drift between sittings is unknown)."""
    from bench.analysis.baselines import set_drift
    from bench.analysis.compare import compare_reports
    from bench.render.compare import render_comparison
    from bench.store.database import display
    from bench.store.history import baseline_from_history

    if args.baseline_from_history < 1:
        raise UsageError(f"--baseline-from-history needs N >= 1, got {args.baseline_from_history}")
    news = [(path, load([path])[0]) for path in [args.base, *args.new]]
    engine = open_database(args)
    codes = []
    for path, new in news:
        bases, covered = baseline_from_history(engine, new, args.baseline_from_history)
        where = f"the last {len(bases)} invocation(s) on {new.fingerprint.id} in {display(engine.url)}"
        if not covered.enough:
            print(printable(f"compare: UNDECIDED: {path}: {where}: {covered.shortfall()}"))
            codes.append(EXIT_OK if args.allow_undecided else EXIT_UNDECIDED)
            continue
        comparison = compare_reports(bases, new, base_name=where, new_name=str(path), drift=set_drift(bases),
                                     **options.thresholds())
        if not comparison.cases:
            raise UsageError(f"{path} shares no case with {where}; nothing to compare")
        render_comparison(comparison)
        codes.append(compare_verdict(comparison, args.allow_undecided))
    return EXIT_FAIL if EXIT_FAIL in codes else max(codes)


def compare_verdict(comparison, allow_undecided: bool) -> int:
    """Print compare's one-line verdict; its exit code: 0 decided and none slower, 1 slower (or broken where the
    base was measured), 4 undecided (a case inconclusive, noisy, not comparable or missing from the new)."""
    from bench.results.records import Status

    regressions, undecided = comparison.regressions(), comparison.undecided
    cases = len(comparison.cases)
    broken = [c.key for c in comparison.cases if c.base_status is Status.OK and c.new_status.broken]
    if regressions or broken:
        worst = ", ".join(f"{r.key} {r.change_pct:+.1f}%" for r in regressions)
        parts = [f"{len(regressions)} of {cases} case(s) slower than {1 - comparison.slower_pct / 100:.3g}x: "
                 f"{worst}"] if regressions else []
        parts += [f"{len(broken)} case(s) measured in the base and broken in the new: {', '.join(broken)}"] \
            if broken else []
        print(printable("compare: FAIL: " + "; ".join(parts)))
        return EXIT_FAIL
    if comparison.only_base:  # an interrupted or narrower new run: what it lacks is not decided
        print(printable(f"compare: UNDECIDED: {len(comparison.only_base)} case(s) of the base are missing from the "
                        f"new report: {', '.join(comparison.only_base)}" + (" (allowed)" if allow_undecided else "")))
        return EXIT_OK if allow_undecided else EXIT_UNDECIDED
    if comparison.refused:
        print(printable(f"compare: UNDECIDED: {comparison.refused}" + (" (allowed)" if allow_undecided else "")))
        return EXIT_OK if allow_undecided else EXIT_UNDECIDED
    if undecided:
        print(f"compare: UNDECIDED: {comparison.decided} of {cases} cases decided, none slower; "
              f"{len(undecided)} inconclusive, noisy or not comparable: add runs (bench run --until-decided) or "
              "quiet the machine" + (" (allowed)" if allow_undecided else ""))
        return EXIT_OK if allow_undecided else EXIT_UNDECIDED
    print(f"compare: OK: all {cases} cases decided, none slower")
    return EXIT_OK


def cmd_summary(args) -> int:
    from bench.render.compare import render_merged
    from bench.render.run import render_summary

    reports = load(args.files)
    render_summary(reports[0]) if len(reports) == 1 else render_merged(reports)
    return EXIT_OK


def cmd_report(args) -> int:
    from bench.render.plots import check_report_dir, write_report_dir
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
    from bench.analysis.baselines import BASELINES
    from bench.render.progress import PrintProgress
    from bench.run.request import InvocationRequest
    from bench.run.validate import EXIT_INCONCLUSIVE, ValidateRequest, validate

    url = database_url(args)
    request = ValidateRequest(InvocationRequest.from_args(args), args.baseline, args.baselines or BASELINES,
                              args.fail_above, args.record, args.junit_xml)
    result = validate(request, PrintProgress())
    record_validation(url, request, result)
    if result.recorded:
        print(printable(f"validate: recorded {result.recorded}"))
    elif result.not_recorded:
        print(printable(f"validate: not recorded: {result.not_recorded}"))
    print(printable(result.decision.line))
    if result.decision.exit_code == EXIT_INCONCLUSIVE and args.allow_undecided:
        return EXIT_OK
    return result.decision.exit_code


def record_validation(url, request, result) -> None:
    """validate's report and verdict into the results database (its report is on disk already)."""
    if url is None or result.report_path is None:
        return
    from bench.results.report import Report, ReportError

    try:
        report = Report.load(result.report_path)
    except ReportError as error:
        print(printable(f"results database: not recorded ({error})"))
        return
    try:
        from bench.store.recorder import Verdict
    except ModuleNotFoundError:
        return record(url, [(report, result.report_path)])  # it says which package is missing
    verdict = Verdict(result.decision.name, result.decision.exit_code, result.decision.line,
                      request.threshold(report.device), str(request.baseline_location(report.fingerprint.id)))
    record(url, [(report, result.report_path)], "validate", verdict, result.env_report)
    mention_recent_changes(url, report)


def mention_recent_changes(url, report) -> None:
    """validate says when its machine's recent history holds a change point (never fails validate)."""
    try:
        from sqlalchemy.exc import SQLAlchemyError

        from bench.render.history import change_line
        from bench.store.database import StoreError, open_engine
        from bench.store.history import recent_changes
    except ModuleNotFoundError:
        return  # record() has said the database's packages are missing
    try:
        engine = open_engine(url)
        changes = recent_changes(engine, report.fingerprint.id, config.HISTORY_RECENT_INVOCATIONS)
        engine.dispose()
    except (StoreError, SQLAlchemyError):
        return  # record() has said what is wrong with the database
    for change in changes:
        print(printable(f"validate: history: {change_line(change)}"))


def cmd_tta(args) -> int:
    from bench.render.progress import PrintProgress
    from bench.render.tta import render_tta
    from bench.run.tta import TtaRequest, run_tta

    request = TtaRequest(tuple(args.recipes), args.target, args.finetune_target, args.data, args.data_dir,
                         args.download, args.loader_workers, args.out, args.device)
    document = run_tta(request, PrintProgress())
    path = document.dump(request.path())
    render_tta(document)
    print(f"report: {path}")
    return EXIT_OK


def open_database(args):
    """An engine on --db (or TORCHRIG_DB, or the default) at this torchrig's schema; its failure is exit 2."""
    from bench.store.database import StoreError, open_engine

    try:
        return open_engine(database_url(args))
    except StoreError as error:
        raise UsageError(str(error)) from None


def cmd_db(args) -> int:
    from bench.store.database import StoreError, display, make_engine, upgrade
    from bench.store.imports import MissingPath, export_reports, import_paths

    if args.db_command == "upgrade":
        url = database_url(args)
        try:
            state = upgrade(make_engine(url))
        except StoreError as error:
            raise UsageError(str(error)) from None
        change = "already at" if state.up_to_date else f"migrated from {state.current or 'an empty database'} to"
        print(printable(f"{display(url)}: schema {change} revision {state.head}"))
        return EXIT_OK
    engine = open_database(args)
    if args.db_command == "import":
        try:
            summary = import_paths(engine, args.paths)
        except MissingPath as error:
            raise UsageError(str(error)) from None
        for _, reason in summary.refused:
            print(printable(f"refused {reason}"))
        print(printable(f"imported {len(summary.stored)} file(s) into {display(engine.url)}, "
                        f"{len(summary.already)} already there, {len(summary.refused)} refused"))
        return EXIT_FAIL if summary.refused else EXIT_OK
    written, refused = export_reports(engine, args.out)
    for key, reason in refused:
        print(printable(f"not exported: invocation {key[:16]}: {reason}"))
    refusals = f", {len(refused)} refused" if refused else ""
    print(printable(f"exported {len(written)} report(s) to {args.out}{refusals}"))
    return EXIT_FAIL if refused else EXIT_OK


def cmd_history(args) -> int:
    from bench.render.history import render_changes, render_series
    from bench.store.history import Query, series, series_changes

    if not (args.case or args.machine):
        raise UsageError("history needs a case key or --machine FINGERPRINT (see `python -m bench run --list`)")
    engine = open_database(args)
    found = series(engine, Query(args.case, args.machine, args.since))
    if not found:
        what = " and ".join(filter(None, [args.case and f"case {args.case}",
                                          args.machine and f"machine {args.machine}"]))
        raise UsageError(f"no results for {what}" + (f" since {args.since}" if args.since else "")
                         + " in the database; record some with `python -m bench run` or `python -m bench db import`")
    if args.changes:
        render_changes([change for one in found for change in series_changes(one)], len(found))
        return EXIT_OK
    for one in found:
        render_series(one, series_changes(one))
    return EXIT_OK


def cmd_publish(args) -> int:
    import importlib.util

    missing = [name for name in ("jinja2", "plotly") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"publish needs {' and '.join(missing)}: pip install 'torchrig[plot]'")
    from sqlalchemy.exc import SQLAlchemyError

    from bench.render.site.publish import publish
    from bench.store.database import StoreError, StoreUsageError, describe, display, open_engine, resolve_url
    from envcheck.files import OutputError

    try:  # --out is the site here, not where reports (and their database) are: no default beside it
        url = resolve_url(args.db)
    except StoreUsageError as error:
        raise UsageError(str(error)) from None
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_file():
        raise UsageError(f"--db {url.database}: no such database file; expected the results database to publish "
                         "(record one with `python -m bench run` or `python -m bench db import`)")
    try:
        engine = open_engine(url)
    except StoreError as error:
        raise UsageError(str(error)) from None
    try:
        summary = publish(engine, args.out, database=display(engine.url), force=args.force)
    except OutputError as error:
        raise UsageError(str(error)) from None
    except SQLAlchemyError as error:
        raise UsageError(f"{display(engine.url)}: {describe(error)}") from None
    finally:
        engine.dispose()
    print(printable(f"published {summary.out}: {summary.nodes} node(s), {summary.cases} case(s), "
                    f"{summary.comparisons} comparison(s); {len(summary.written)} file(s) written, "
                    f"{len(summary.unchanged)} unchanged, {len(summary.removed)} removed"))
    print(printable(f"open {summary.out / 'index.html'} or serve it: python -m http.server -d {summary.out}"))
    return EXIT_OK


COMMANDS = {"run": cmd_run, "compare": cmd_compare, "summary": cmd_summary, "report": cmd_report,
            "validate": cmd_validate, "tta": cmd_tta, "history": cmd_history, "db": cmd_db,
            "publish": cmd_publish}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, RequestError) as error:
        exit_usage(PROG, error)
    except ModuleNotFoundError as error:  # an environment without the project's dependencies
        exit_usage(PROG, UsageError(f"missing package {error.name!r}: install torchrig's dependencies "
                                    "(pip install -e .) or run `python -m envcheck`"))


if __name__ == "__main__":
    sys.exit(main())
