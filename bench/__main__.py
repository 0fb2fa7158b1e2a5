"""`python -m bench`: argparse -> request -> execute -> render, one thin cmd_* per verb.

run       0 every case ok or skipped (the matrix informs; compare and validate gate); 1 a case failed, ran
          out of memory, timed out or crashed, or the disk filled; 128+N stopped by signal N (130 Ctrl-C,
          143 SIGTERM), reports written
compare   0 every case decided and none slower; 1 a case shown slower (beyond --fail-above, else by more
          than 1 %); 4 undecided: a case inconclusive, noisy or not comparable and none slower, or separate
          invocations whose drift is unknown (--allow-undecided makes 4 a 0)
validate  0 healthy, 1 broken, 3 degraded, 4 inconclusive (--allow-undecided makes 4 a 0); --tier N as well
fleet     report: 0 every node healthy, 3 a node broken, degraded or missing, 4 none flagged but some inconclusive;
          task: validate's code; submit, status, resubmit, manifest: 0
all       2 on bad input: one line, no traceback, nothing already written is lost
"""

from __future__ import annotations

import os
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


def open_listener(url, kind: str = "run"):
    """The results database's listener of an invocation, which streams each run into it as it finishes
    (bench/store/stream.py); None with --no-db, or without the database's packages (finish_recording says so)."""
    if url is None:
        return None
    try:
        from bench.store.stream import StreamRecorder
    except ModuleNotFoundError:
        return None
    return StreamRecorder(url, kind)


def finish_recording(listener, url, paths, verdict=None, env_report=None) -> None:
    """Complete the streamed invocation with its reports (a failure says how to upload later; the exit stays)."""
    if url is None:
        return
    if listener is None:
        try:
            from bench.store.stream import StreamRecorder  # noqa: F401
        except ModuleNotFoundError as error:  # an environment without the database's packages: the report stays
            names = " ".join(str(path) for path in paths) or "REPORT"
            print(printable(f"results database: not recorded (missing package {error.name!r}: pip install "
                            f"sqlalchemy alembic); upload it later with `python -m bench db import {names}`"))
        return
    for line in listener.complete(verdict, env_report):
        print(printable(line))


def finish_invocation(outcome, url=None, listener=None) -> int:
    from bench.render.run import render_outcome

    render_outcome(outcome, PROG)
    finish_recording(listener, url, [path for _, path in outcome.reports])
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
        listener = open_listener(url)
        try:
            return finish_invocation(resume(args.resume, PrintProgress(), listener), url, listener)
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
    listener = open_listener(url)
    return finish_invocation(execute(request, PrintProgress(), listener=listener), url, listener)


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
    return run_validate(args)[0]


def run_validate(args):
    """validate's exit code and its Validation (the fleet task records which invocation it stored)."""
    from bench.analysis.baselines import BASELINES
    from bench.render.progress import PrintProgress
    from bench.run.request import InvocationRequest
    from bench.run.validate import EXIT_INCONCLUSIVE, ValidateRequest, validate

    url = database_url(args)
    checks = None
    if args.tier is not None:  # the tier's checks and cases, wherever the user gave no option of their own
        from bench.run.tiers import TierError, tier

        try:
            chosen = tier(args.tier)
        except TierError as error:
            raise UsageError(str(error)) from None
        vars(args).update(chosen.fill(vars(args)))
        checks = chosen.checks
    request = ValidateRequest(InvocationRequest.from_args(args), args.baseline, args.baselines or BASELINES,
                              args.fail_above, args.record, args.junit_xml, checks)
    listener = open_listener(url, "validate")
    result = validate(request, PrintProgress(), listener)
    record_validation(url, request, result, listener)
    if result.recorded:
        print(printable(f"validate: recorded {result.recorded}"))
    elif result.not_recorded:
        print(printable(f"validate: not recorded: {result.not_recorded}"))
    print(printable(result.decision.line))
    if result.decision.exit_code == EXIT_INCONCLUSIVE and args.allow_undecided:
        return EXIT_OK, result
    return result.decision.exit_code, result


def record_validation(url, request, result, listener) -> None:
    """Complete validate's streamed invocation with its report and verdict (its report is on disk already); a
    validate stopped before its verdict is completed with its partial report, as interrupted."""
    if listener is None or not listener.reports or result.report_path is None:
        return finish_recording(listener, url, [result.report_path] if result.report_path else [])
    from bench.store.recorder import Verdict

    report = listener.reports[0][0]
    verdict = Verdict(result.decision.name, result.decision.exit_code, result.decision.line,
                      request.threshold(report.device), str(request.baseline_location(report.fingerprint.id)))
    finish_recording(listener, url, [result.report_path], verdict, result.env_report)
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
    written, refused, running = export_reports(engine, args.out)
    for key, reason in refused:
        print(printable(f"not exported: invocation {key[:16]}: {reason}"))
    refusals = f", {len(refused)} refused" if refused else ""
    unfinished = f", {running} still running (no report yet)" if running else ""
    print(printable(f"exported {len(written)} report(s) to {args.out}{refusals}{unfinished}"))
    return EXIT_FAIL if refused else EXIT_OK


def cmd_history(args) -> int:
    from bench.render.history import render_changes, render_series
    from bench.store.history import Query, series, series_changes

    if not (args.case or args.machine):
        raise UsageError("history needs a case key or --machine FINGERPRINT (see `python -m bench run --list`)")
    if args.plot is not None:  # before the database: a missing matplotlib or a bad path costs nothing
        from bench.render.history_plot import check_plot_path
        from envcheck.files import OutputError

        try:
            check_plot_path(args.plot)
        except OutputError as error:
            raise UsageError(str(error)) from None
    engine = open_database(args)
    found = series(engine, Query(args.case, args.machine, args.since))
    if not found:
        what = " and ".join(filter(None, [args.case and f"case {args.case}",
                                          args.machine and f"machine {args.machine}"]))
        raise UsageError(f"no results for {what}" + (f" since {args.since}" if args.since else "")
                         + " in the database; record some with `python -m bench run` or `python -m bench db import`")
    changes = {one.history_key: series_changes(one) for one in found}
    if args.changes:
        render_changes([change for one in found for change in changes[one.history_key]], len(found))
    else:
        for one in found:
            render_series(one, changes[one.history_key])
    if args.plot is not None:
        plot_history(args.plot, engine, found, changes)
    return EXIT_OK


def plot_history(path, engine, found, changes) -> None:
    from bench.render.history_plot import Panel, write_history_plot
    from bench.store.history import run_steps
    from envcheck.files import OutputError

    panels = [Panel(one, changes[one.history_key], run_steps(engine, one)) for one in found]
    try:
        shown = write_history_plot(path, panels)
    except OutputError as error:
        raise UsageError(str(error)) from None
    of = f" (the first {shown} of {len(found)} series)" if shown < len(found) else ""
    print(printable(f"history: wrote {path}{of}"))


def cmd_micro(args) -> int:
    """The micro suite: executed and recorded as `bench run` is, then each figure beside its datasheet, its
    fleet's median and its host's history (from the results database)."""
    from bench.render.progress import PrintProgress
    from bench.render.run import render_outcome
    from bench.run.execute import execute
    from bench.run.request import InvocationRequest

    url = database_url(args)
    listener = open_listener(url)
    outcome = execute(InvocationRequest.from_args(args, suite="micro"), PrintProgress(), listener=listener)
    finish_recording(listener, url, [path for _, path in outcome.reports])
    render_outcome(outcome, PROG, micro_yardsticks(url, outcome.reports))
    if outcome.stopped_by is not None:
        return 128 + outcome.stopped_by
    return EXIT_FAIL if outcome.broken or outcome.error else EXIT_OK


def micro_yardsticks(url, reports) -> dict:
    """report path -> its cases against the fleet and the host's history; empty without a usable database."""
    if url is None or not reports:
        return {}
    try:
        from sqlalchemy.exc import SQLAlchemyError

        from bench.store.database import StoreError, open_engine
        from bench.store.yardsticks import yardsticks
    except ModuleNotFoundError:
        return {}  # finish_recording() has said which package is missing
    try:
        engine = open_engine(url)
        found = {path: yardsticks(engine, report) for report, path in reports}
        engine.dispose()
    except (StoreError, SQLAlchemyError):
        return {}  # finish_recording() has said what is wrong with the database
    return found


def cmd_fleet(args) -> int:
    """submit / status / resubmit / report on Slurm, manifest for Kubernetes, task inside each (bench/fleet.py)."""
    from bench.run.kubernetes import ManifestError
    from bench.run.slurm import SlurmError
    from bench.store.fleet import FleetJobError

    handlers = {"submit": fleet_submit, "status": fleet_status, "resubmit": fleet_resubmit, "report": fleet_report,
                "manifest": fleet_manifest, "task": fleet_task}
    try:
        return handlers[args.fleet_command](args)
    except (SlurmError, FleetJobError, ManifestError, ValueError) as error:
        raise UsageError(str(error)) from None


def fleet_submit(args) -> int:
    from bench import fleet
    from bench.run import slurm
    from bench.run.tiers import TierError, tier
    from bench.store.database import display

    try:
        tier(args.tier)
    except TierError as error:
        raise UsageError(str(error)) from None
    nodes = slurm.expand_nodes(args.nodes) if args.nodes else slurm.partition_nodes(args.partition)
    minutes = args.time or config.FLEET_TASK_MINUTES[args.tier]
    engine = open_database(args)
    os.environ[config.DB_ENV] = engine.url.render_as_string(hide_password=False)  # to the tasks (sbatch exports
    # the environment), never into the batch script or an argv
    request = slurm.SubmitRequest(fleet.new_fleet_key(), nodes, args.tier, minutes, args.out.resolve(),
                                  args.partition, tuple(args.validate_args), array_limit=args.array_limit)
    submitted = fleet.submit_slurm(engine, request)
    print(printable(f"fleet {request.fleet_key}: Slurm job {submitted.scheduler_job}, {len(nodes)} task(s) (one per "
                    f"node, --exclusive, {minutes} min each), tier {args.tier}, recorded in {display(engine.url)}"))
    print(printable(f"next: python -m bench fleet status {submitted.scheduler_job}; "
                    f"python -m bench fleet report {submitted.scheduler_job}"))
    return EXIT_OK


def fleet_status(args) -> int:
    from bench import fleet
    from bench.render.fleet import status_lines

    job, statuses = fleet.fleet_status(open_database(args), args.job)
    for line in status_lines(job, statuses):
        print(printable(line))
    return EXIT_OK


def fleet_resubmit(args) -> int:
    from bench import fleet

    engine = open_database(args)
    os.environ[config.DB_ENV] = engine.url.render_as_string(hide_password=False)  # to the tasks, as submit
    submitted = fleet.resubmit_missing(engine, args.job)
    if submitted is None:
        print(printable(f"fleet {args.job}: no missing task; nothing resubmitted"))
        return EXIT_OK
    print(printable(f"fleet {submitted.job.fleet_key}: resubmitted {len(submitted.indexes)} missing task(s) "
                    f"({', '.join(map(str, submitted.indexes))}) as Slurm job {submitted.scheduler_job}"))
    return EXIT_OK


EXIT_FLEET_FLAGGED = 3  # as validate's degraded: a node is broken, degraded or missing


def fleet_report(args) -> int:
    import subprocess

    from bench import fleet
    from bench.analysis.fleet import NodeVerdict, drain_command
    from bench.render.fleet import report_lines

    if (args.job is None) == (args.since is None):
        raise UsageError("fleet report needs a JOB or --since DATE (one of them)")
    if error := config.fail_above_error(args.fail_above):
        raise UsageError(error)
    engine = open_database(args)
    judged = (fleet.report_job(engine, args.job, args.fail_above) if args.job
              else fleet.report_since(engine, args.since, args.fail_above))
    if not judged.report.nodes:
        raise UsageError(f"no fleet task finished since {args.since} in the database")
    title = f"fleet {judged.job.fleet_key} (tier {judged.job.tier})" if judged.job else f"fleet since {args.since}"
    for line in report_lines(judged.report, title, judged.history):
        print(printable(line))
    if args.drain:
        for node in judged.report.to_drain():
            done = subprocess.run(drain_command(node.node, node.drain_reason()), capture_output=True, text=True,
                                  check=False)
            print(printable(f"drained {node.node}" if done.returncode == 0 else
                            f"could not drain {node.node}: {done.stderr.strip() or done.returncode}"))
    report = judged.report
    flagged = any(report.count(v) for v in (NodeVerdict.BROKEN, NodeVerdict.DEGRADED, NodeVerdict.MISSING))
    if flagged:
        return EXIT_FLEET_FLAGGED
    return EXIT_UNDECIDED if report.count(NodeVerdict.INCONCLUSIVE) else EXIT_OK


def fleet_manifest(args) -> int:
    from bench import fleet
    from bench.run.kubernetes import ManifestRequest, manifest_text
    from bench.run.tiers import TierError, tier
    from envcheck.files import write_atomic

    try:
        tier(args.tier)
    except TierError as error:
        raise UsageError(str(error)) from None
    request = ManifestRequest(fleet.new_fleet_key(), args.nodes, args.tier, args.image, tuple(args.node_names),
                              args.gpus, args.secret, args.namespace,
                              active_deadline_s=60 * config.FLEET_TASK_MINUTES[args.tier],
                              validate_args=tuple(args.validate_args))
    text = manifest_text(request)
    if args.out is None:
        print(text, end="")
    else:
        write_atomic(args.out, text.encode())
        print(printable(f"wrote {args.out}: Indexed Job {request.job_name}, {args.nodes} pod(s), tier {args.tier}; "
                        f"kubectl apply -f {args.out} (after kubectl create secret generic {args.secret} "
                        "--from-literal=url=postgresql://...)"))
    return EXIT_OK


def fleet_task(args) -> int:
    """Inside an array task or a pod: mark the task running, validate at the tier into OUT/<node>, mark it done
    with the invocation it stored; exit with validate's code."""
    from bench.results.report import Report, ReportError
    from bench.run.slurm import this_task
    from bench.store import fleet as store
    from bench.store.rows import invocation_key

    index, node, element = this_task()
    if index is None and os.environ.get("JOB_COMPLETION_INDEX", "").isdigit():  # a Kubernetes Indexed Job's pod
        index, node, element = int(os.environ["JOB_COMPLETION_INDEX"]), os.environ.get("TORCHRIG_NODE"), None
    index = args.index if args.index is not None else index
    if index is None:
        raise UsageError("fleet task: no task index (--index, $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX)")
    node = node or os.environ.get("TORCHRIG_NODE") or __import__("socket").gethostname()
    url = database_url(args)
    engine = open_database(args)
    store.register_task(engine, args.fleet, index, node, args.tier, "slurm" if element else "kubernetes")
    store.task_started(engine, args.fleet, index, node, element)
    os.environ[config.DB_ENV] = url.render_as_string(hide_password=False)  # validate's database, not on its argv
    parsed = build_parser().parse_args(["validate", "--tier", str(args.tier), "--out", str(args.out / node),
                                        *args.validate_args])
    parsed.label = node  # the node names the run: nodes that share a host name stay apart in the store
    code, result = run_validate(parsed)
    key = None
    if result.report_path is not None:
        try:
            key = invocation_key(Report.load(result.report_path))
        except ReportError:
            key = None
    store.task_finished(engine, args.fleet, index, code, result.decision.name, key)
    return code


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


COMMANDS = {"fleet": cmd_fleet, "micro": cmd_micro, "run": cmd_run, "compare": cmd_compare, "summary": cmd_summary,
            "report": cmd_report, "validate": cmd_validate, "tta": cmd_tta, "history": cmd_history, "db": cmd_db,
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
