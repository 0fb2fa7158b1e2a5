"""Execute a plan: every run of every case in a fresh worker, interleaved, journaled.

The runs go in round-robin order (run 1 of every case, then run 2, ...; setups
alternating A B / B A so that drift lands on all of them), each appended to the journal
as it finishes; a signal stops the run after the current worker is killed; then one
report per setup. With --until-decided (rule 14), once the planned runs are done the undecided cases get more
runs, the case closest to a decision first, one interleaved pair (A B or B A; one run against a baseline set)
per case and look, until each is decided, reaches the sequential design's last look (bench/analysis/sequential.py) or
the budget is spent; these runs are journaled like the others, their indices continuing after the planned
ones, so that --resume finishes them too. Nothing here prints: the caller passes a Progress that does, and may
pass a Listener (the results database) that keeps each run as it is journaled.
"""

from __future__ import annotations

import dataclasses
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from bench.analysis.compare import Comparison
from bench.measure.jobs import CaseJob, Options, WorkerRequest
from bench.results.cases import Case
from bench.results.journal import SUFFIX, Entry, Journal, JournalError
from bench.results.records import CaseRecord, RunRecord, Status
from bench.results.report import Report, Setup
from bench.run import workdir
from bench.run.distributed import run_distributed
from bench.run.plan import Listener, Plan, Progress, SetupPlan, make_plan
from bench.run.process import Runner, decoded_record, lost_record, stop_on_signals
from bench.run.request import InvocationRequest, Launch
from envcheck.files import OutputError, inside
from envcheck.files import describe as describe_os_error
from envcheck.stamps import file_stamp


@dataclasses.dataclass
class Outcome:
    reports: list[tuple[Report, Path]]
    stopped_by: int | None  # the signal that stopped the run
    journal: Path | None  # kept when runs are left to do
    error: str | None = None  # what ended the run early (a full disk)
    thresholds: dict = dataclasses.field(default_factory=dict)  # compare_reports' thresholds the run decided at

    @property
    def broken(self) -> list[CaseRecord]:
        return [r for report, _ in self.reports for r in report.cases if r.status.broken]


def journal_path(request: InvocationRequest) -> Path:
    """OUT/<UTC time>-<suite>-<random>.journal: two runs started in one second get different names."""
    return request.out / f"{file_stamp()}-{request.suite}-{secrets.token_hex(3)}{SUFFIX}"


def create_journal(request: InvocationRequest, plan: Plan) -> Journal:
    """A new journal under a name no other journal has (created exclusively, retried on a clash), locked."""
    for _ in range(100):
        try:
            journal = Journal.create(journal_path(request), plan)
        except FileExistsError:
            continue
        journal.lock()
        return journal
    raise FileExistsError(f"no free journal name under {request.out}")


# the reports so far -> their comparisons (each later setup against the first; validate: against its baseline);
# empty: nothing to decide
Judge = Callable[[list[Report]], list[Comparison]]


def execute(request: InvocationRequest, progress: Progress, judge: Judge | None = None,
            listener: Listener | None = None) -> Outcome:
    """Plan, journal and run a request; the reports are written even when a signal stops it. ``judge`` decides
    which cases --until-decided extends (default: the two setups compared with each other); ``listener`` hears
    of the start, each journaled run and the reports."""
    request.check_disk()
    invocation_id = secrets.token_hex(8)
    work_dir = workdir.create(invocation_id)
    runner = Runner(work_dir)
    # the signal handlers enclose the runner's close: a second Ctrl-C while its fork servers end is still a stop
    with stop_on_signals(runner.supervisor), runner:
        try:
            plan = dataclasses.replace(make_plan(request, runner, progress), invocation_id=invocation_id)
        except BaseException:  # a usage error found while planning: nothing to keep
            shutil.rmtree(work_dir, ignore_errors=True)
            raise
        if runner.supervisor.stopped_by is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
            return Outcome([], runner.supervisor.stopped_by, None)
        journal = create_journal(request, plan)
        return run_plan(plan, journal, [], runner, progress, judge, listener)


def begin_listening(plan: Plan, entries: list[Entry], listener: Listener | None) -> Listener | None:
    """Tell the listener the invocation began (an empty report per setup); None on a node that writes no report
    (node 0 writes a multi-node run's)."""
    launch = plan.request.launch
    if listener is None or (launch is not None and launch.node_rank != 0):
        return None
    listener.begun([build_report(plan, s, [], False, 0.0) for s in plan.setups], entries)
    return listener


def resume(path: Path, progress: Progress, listener: Listener | None = None) -> Outcome:
    """Finish the runs a journal has not recorded, then write the report(s). Its work folder is used (and
    removed at the end) only if it is the run's own (WorkDirError otherwise, before anything runs)."""
    journal, plan, entries = Journal.open(path, Plan, lock=True)
    try:
        check_entries(path, plan, entries)
        for setup_plan in plan.setups:  # the folders a run makes are named by the journal's labels and keys
            for case in plan.cases:
                try:
                    cache_dir(plan, setup_plan.setup, case)
                except OutputError as error:
                    raise JournalError(f"{path}: {error}") from None
        plan.request.check_disk()  # the journal's output folder and interpreters, once the journal is proven
        plan = dataclasses.replace(plan, work_dir=str(workdir.for_resume(plan.work_dir, plan.invocation_id, path)))
    except BaseException:
        journal.release()
        raise
    progress.note(f"resuming {path}: {len(entries)} of {plan.slot_count()} runs already recorded")
    runner = Runner(Path(plan.work_dir))
    with stop_on_signals(runner.supervisor), runner:
        return run_plan(plan, journal, entries, runner, progress, None, listener)


def check_entries(path: Path, plan: Plan, entries: list[Entry]) -> None:
    """Every journal line is a run of the plan, recorded once (JournalError naming the first that is not):
    a duplicated or out-of-range line would count as an extra run and narrow the intervals."""
    seen = set()
    for number, entry in enumerate(entries, 2):  # line 1 is the header
        slot = (entry.setup, entry.case, entry.record.index)
        problem = plan.entry_problem(*slot)
        if problem is None and slot in seen:
            problem = f"run {entry.record.index} of {entry.case} is already recorded"
        if problem:
            raise JournalError(f"{path}: line {number}: {problem}; expected each run of the plan at most once")
        seen.add(slot)


class JournalFull(Exception):
    """The journal refused a finished run; the message says how to go on."""


def run_plan(plan: Plan, journal: Journal, entries: list[Entry], runner: Runner, progress: Progress,
             judge: Judge | None = None, listener: Listener | None = None) -> Outcome:
    """Run what the journal lacks, holding its lock until the reports are written; the listener hears first of
    the start and of the runs the journal holds (a --resume's)."""
    try:
        listener = begin_listening(plan, entries, listener)
        return run_slots(plan, journal, entries, runner, progress, judge, listener)
    finally:
        journal.release()


def run_slots(plan: Plan, journal: Journal, entries: list[Entry], runner: Runner, progress: Progress,
              judge: Judge | None = None, listener: Listener | None = None) -> Outcome:
    started = time.perf_counter()
    done = {(e.setup, e.case, e.record.index) for e in entries}
    total = plan.slot_count()
    error = None
    try:
        for number, (setup_plan, case, index) in enumerate(plan.slots(), 1):
            if (setup_plan.setup.label, case.key, index) in done:
                continue
            if runner.supervisor.stopped_by is not None or not run_one(plan, journal, entries, runner, progress,
                                                                       setup_plan, case, index, number, total,
                                                                       listener):
                break
        recorded = {(e.setup, e.case, e.record.index) for e in entries}
        complete = all(slot in recorded for slot in ((s.setup.label, c.key, i) for s, c, i in plan.slots()))
        if complete and plan.request.until_decided and runner.supervisor.stopped_by is None:
            complete = until_decided(plan, journal, entries, runner, progress, judge or setups_judge(plan.request),
                                     listener)
    except JournalFull as failure:
        error, complete = str(failure), False
    reports = write_reports(plan, entries, not complete, time.perf_counter() - started)
    if listener is not None:
        listener.reports_written(reports)
    if complete and reports is not None:
        journal.remove()
        workdir.remove_if_ours(plan.work_dir, plan.invocation_id)
    if reports is None:
        error = error or f"cannot write the reports; every finished run is in {journal.path}"
    return Outcome(reports or [], runner.supervisor.stopped_by, None if complete else journal.path, error,
                   plan.request.decision_thresholds())


def run_one(plan: Plan, journal: Journal, entries: list[Entry], runner: Runner, progress: Progress,
            setup_plan: SetupPlan, case: Case, index: int, number: int, total: int,
            listener: Listener | None = None) -> bool:
    """One run of one case, journaled; False when the run is stopping (a signal killed the worker)."""

    setup = setup_plan.setup
    progress.started(number, total, setup, case, index)
    job = CaseJob(case, plan.request.rules, index, job_options(plan), str(cache_dir(plan, setup, case)))
    if case.world_size > 1:  # a data-parallel case of the launch, or a micro-benchmark's ranks (all-reduce)
        record = run_distributed(runner, setup, job, plan.request.launch or Launch(case.world_size))
    else:
        # a fork server per round of the round-robin; the runs --until-decided adds share one
        record = run_in_worker(runner, setup, job, index if index < plan.request.runs_per_case else "added")
    if record is None:  # killed because the run is stopping: this run is lost, not failed
        return False
    progress.finished(record)
    entry = Entry(setup.label, case.key, record)
    entries.append(entry)
    try:
        journal.append(entry)
    except OSError as failure:
        raise JournalFull(f"cannot append to the journal {journal.path}: {describe_os_error(failure)}; the runs "
                          f"recorded before are kept there: free space, then `python -m bench run --resume "
                          f"{journal.path}`") from None
    if listener is not None:
        listener.run_finished(entry)
    return True


def setups_judge(request: InvocationRequest) -> Judge:
    """The default judge of --until-decided: every later setup against the first (the matrix's reference), at
    the request's thresholds, as the merged table compares them."""
    from bench.analysis.compare import compare_reports

    def judge(reports: list[Report]) -> list[Comparison]:
        return [compare_reports(reports[0], other, **request.decision_thresholds()) for other in reports[1:]]

    return judge


def until_decided(plan: Plan, journal: Journal, entries: list[Entry], runner: Runner, progress: Progress,
                  judge: Judge, listener: Listener | None = None) -> bool:
    """Add runs to the undecided cases, closest to a decision first, one pair (a run per setup) per case and
    look, until every case is decided or at its last look, or the budget is spent. True when it ended without
    a signal (the reports are complete)."""
    from bench.analysis.compare import Verdict

    design = plan.design
    deadline = time.monotonic() + plan.request.budget_min * 60
    cases = {case.key: case for case in plan.cases}
    looks = 0
    while runner.supervisor.stopped_by is None:
        comparisons = judge([build_report(plan, s, entries, False, 0.0) for s in plan.setups])
        if not comparisons:
            return True
        counts = run_counts(entries)
        closest: dict[str, object] = {}  # case -> its row closest to a decision, over every comparison
        for comparison in comparisons:
            for c in comparison.cases:
                if (c.verdict in (Verdict.INCONCLUSIVE, Verdict.NOISY) and (c.estimate is not None or c.verdict is
                        Verdict.NOISY) and c.key in cases
                        and min(counts.get((s.setup.label, c.key), 0) for s in plan.setups) < design.max_runs
                        and (c.key not in closest or c.decision.distance < closest[c.key].decision.distance)):
                    closest[c.key] = c
        waiting = sorted(closest.values(), key=lambda c: c.decision.distance)
        if looks == 0:
            keys = {c.key for comparison in comparisons for c in comparison.cases}
            undecided = {c.key for comparison in comparisons for c in comparison.undecided}
            progress.note(f"until decided: {len(keys - undecided)} of {len(keys)} cases decided after the planned "
                          f"runs; adding runs to {len(waiting)} for up to {plan.request.budget_min:g} min")
        added = 0
        for row in waiting:
            pair = [s for s in plan.setups if row.key not in s.skipped]
            expected = sum(pair_seconds(entries, s.setup.label, row.key) for s in pair)
            if time.monotonic() + expected > deadline:
                continue
            top = max(counts_index(entries, s.setup.label, row.key) for s in pair)
            # a pair a signal broke (resumed since) is completed at its own index first, so that run i of every
            # setup stays a pair; else a new pair, A B or B A by its index
            behind = [s for s in pair if counts_index(entries, s.setup.label, row.key) < top]
            index = top if behind else top + 1
            order = behind or (pair if index % 2 == 0 else pair[::-1])
            for setup_plan in order:
                if not run_one(plan, journal, entries, runner, progress, setup_plan, cases[row.key], index,
                               len(entries) + 1, plan.slot_count(), listener):  # past the planned total: added
                    return False
            added += 1
        looks += 1
        if not added:
            reason = "every case decided or at its last look" if not waiting else "the budget is spent"
            progress.note(f"until decided: stopped after {looks - 1} look(s): {reason}")
            return True
    return False


def run_counts(entries: list[Entry]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for entry in entries:
        counts[(entry.setup, entry.case)] = counts.get((entry.setup, entry.case), 0) + 1
    return counts


def counts_index(entries: list[Entry], setup: str, case: str) -> int:
    """The highest run index of a case on a setup (-1 with none)."""
    return max((e.record.index for e in entries if e.setup == setup and e.case == case), default=-1)


def pair_seconds(entries: list[Entry], setup: str, case: str) -> float:
    """What one more run of a case is expected to take: the median wall time of its runs so far."""
    import statistics

    seconds = [e.record.duration_s for e in entries if e.setup == setup and e.case == case and e.record.duration_s]
    return statistics.median(seconds) if seconds else 0.0


def cache_dir(plan: Plan, setup: Setup, case: Case) -> Path:
    """The case's inductor cache, inside the work folder whatever its setup's label and key say."""
    return inside(Path(plan.work_dir), "inductor", setup.label or "default", case.key)


def job_options(plan: Plan) -> Options:
    request = plan.request
    return Options(checkpoint=request.checkpoint, checkpoint_dir=Path(plan.work_dir) / "checkpoints",
                   lora_rank=request.lora_rank, lora_targets=request.lora_targets, data_dir=request.data_dir,
                   loader_workers=request.loader_workers_or_default)


def run_in_worker(runner: Runner, setup: Setup, job: CaseJob, round_key: int | str) -> RunRecord | None:
    """One run in a fresh worker (forked by the server of ``round_key``); None when the run is stopping."""
    timeout = job.rules.case_timeout_s
    data, exit_ = runner.call(setup, WorkerRequest("case", case=job), timeout, round_key=round_key)
    if exit_.stopped:
        return None
    return decoded_record(job, data, exit_, "the worker") or lost_record(job, exit_, timeout)


def write_reports(plan: Plan, entries: list[Entry], interrupted: bool, wall_s: float):
    """One report per setup from the journal's entries; None when the disk refuses them."""
    launch = plan.request.launch
    if launch is not None and launch.node_rank != 0:
        return []  # node 0 writes the report of a multi-node run
    written = []
    for setup_plan in plan.setups:
        report = build_report(plan, setup_plan, entries, interrupted, wall_s)
        try:
            written.append((report, report.dump(report.default_path(plan.request.out))))
        except OSError:
            return None
    return written


def build_report(plan: Plan, setup_plan: SetupPlan, entries: list[Entry], interrupted: bool, wall_s: float) -> Report:
    request, setup = plan.request, setup_plan.setup
    runs: dict[str, list[RunRecord]] = {}
    for entry in entries:
        if entry.setup == setup.label:
            runs.setdefault(entry.case, []).append(entry.record)
    records = []
    for case in plan.cases:
        if case.key in setup_plan.skipped:
            records.append(CaseRecord(case, Status.SKIPPED, setup_plan.skipped[case.key]))
        elif case.key in runs:
            native = False if case.key in setup_plan.emulated else None
            records.append(CaseRecord.from_runs(case, sorted(runs[case.key], key=lambda r: r.index), native))
    finished = sum(1 for r in records if r.status is Status.SKIPPED or len(r.runs) >= request.runs_per_case)
    info = plan.invocation(setup_plan, finished=finished, interrupted=interrupted, wall_s=wall_s)
    return Report(setup_plan.environment, info, setup_plan.ceilings, records, pytest_benchmark=pytest_benchmark_info())


def pytest_benchmark_info() -> dict:
    """The commit and pytest-benchmark version fields of its JSON, as pytest-benchmark fills them."""
    import pytest_benchmark
    from pytest_benchmark.utils import get_commit_info

    return {"commit_info": get_commit_info(), "version": pytest_benchmark.__version__}
