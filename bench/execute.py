"""Execute a plan: every run of every case in a fresh worker, interleaved, journaled.

The runs go in round-robin order (run 1 of every case, then run 2, ...; setups
alternating A B / B A so that drift lands on all of them), each appended to the journal
as it finishes; a signal stops the run after the current worker is killed; then one
report per setup. Nothing here prints: the caller passes a Progress that does.
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets
import shutil
import time
from pathlib import Path

from bench import workdir
from bench.journal import SUFFIX, Entry, Journal, JournalError
from bench.plan import Plan, Progress, SetupPlan, make_plan
from bench.process import Exit, Runner, stop_on_signals
from bench.records import CaseRecord, RunRecord, Status
from bench.report import Report, RunInfo, Setup
from bench.request import RunRequest
from bench.worker import CaseJob, Options, WorkerRequest
from envcheck.codec import DecodeError, from_jsonable
from envcheck.files import OutputError, inside
from envcheck.files import describe as describe_os_error


@dataclasses.dataclass
class Outcome:
    reports: list[tuple[Report, Path]]
    stopped_by: int | None  # the signal that stopped the run
    journal: Path | None  # kept when runs are left to do
    error: str | None = None  # what ended the run early (a full disk)

    @property
    def broken(self) -> list[CaseRecord]:
        return [r for report, _ in self.reports for r in report.cases if r.status.broken]


def journal_path(request: RunRequest) -> Path:
    """OUT/<UTC time>-<suite>-<random>.journal: two runs started in one second get different names."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return request.out / f"{stamp}-{request.suite}-{secrets.token_hex(3)}{SUFFIX}"


def create_journal(request: RunRequest, plan: Plan) -> Journal:
    """A new journal under a name no other journal has (created exclusively, retried on a clash), locked."""
    for _ in range(100):
        try:
            journal = Journal.create(journal_path(request), plan)
        except FileExistsError:
            continue
        journal.lock()
        return journal
    raise FileExistsError(f"no free journal name under {request.out}")


def execute(request: RunRequest, progress: Progress) -> Outcome:
    """Plan, journal and run a request; the reports are written even when a signal stops it."""
    run_id = secrets.token_hex(8)
    work_dir = workdir.create(run_id)
    runner = Runner(work_dir)
    with stop_on_signals(runner.supervisor):
        try:
            plan = dataclasses.replace(make_plan(request, runner, progress), run_id=run_id)
        except BaseException:  # a usage error found while planning: nothing to keep
            shutil.rmtree(work_dir, ignore_errors=True)
            raise
        if runner.supervisor.stopped_by is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
            return Outcome([], runner.supervisor.stopped_by, None)
        journal = create_journal(request, plan)
        return run_plan(plan, journal, [], runner, progress)


def resume(path: Path, progress: Progress) -> Outcome:
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
        plan = dataclasses.replace(plan, work_dir=str(workdir.for_resume(plan.work_dir, plan.run_id, path)))
    except BaseException:
        journal.release()
        raise
    runner = Runner(Path(plan.work_dir))
    progress.note(f"resuming {path}: {len(entries)} of {plan.slot_count()} runs already recorded")
    with stop_on_signals(runner.supervisor):
        return run_plan(plan, journal, entries, runner, progress)


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


def run_plan(plan: Plan, journal: Journal, entries: list[Entry], runner: Runner, progress: Progress) -> Outcome:
    """Run what the journal lacks, holding its lock until the reports are written."""
    try:
        return run_slots(plan, journal, entries, runner, progress)
    finally:
        journal.release()


def run_slots(plan: Plan, journal: Journal, entries: list[Entry], runner: Runner, progress: Progress) -> Outcome:
    from bench.distributed import run_distributed

    started = time.perf_counter()
    done = {(e.setup, e.case, e.record.index) for e in entries}
    total = plan.slot_count()
    rules, options = plan.request.rules, job_options(plan)
    error = None
    for number, (setup_plan, case, index) in enumerate(plan.slots(), 1):
        setup = setup_plan.setup
        if (setup.label, case.key, index) in done:
            continue
        if runner.supervisor.stopped_by is not None:
            break
        progress.started(number, total, setup, case, index)
        job = CaseJob(case, rules, index, options, str(cache_dir(plan, setup, case)))
        if case.world_size > 1:
            record = run_distributed(runner, setup, job, plan.request.launch)
        else:
            record = run_in_worker(runner, setup, job)
        if record is None:  # killed because the run is stopping: this run is lost, not failed
            break
        progress.finished(record)
        entry = Entry(setup.label, case.key, record)
        entries.append(entry)
        try:
            journal.append(entry)
        except OSError as failure:
            error = (f"cannot append to the journal {journal.path}: {describe_os_error(failure)}; the runs "
                     f"recorded before are kept there: free space, then `python -m bench run --resume {journal.path}`")
            break
    complete = len({(e.setup, e.case, e.record.index) for e in entries}) == total  # entries are the plan's runs
    reports = write_reports(plan, entries, not complete, time.perf_counter() - started)
    if complete and reports is not None:
        journal.remove()
        workdir.remove_if_ours(plan.work_dir, plan.run_id)
    if reports is None:
        error = error or f"cannot write the reports; every finished run is in {journal.path}"
    return Outcome(reports or [], runner.supervisor.stopped_by, None if complete else journal.path, error)


def cache_dir(plan: Plan, setup: Setup, case) -> Path:
    """The case's inductor cache, inside the work folder whatever its setup's label and key say."""
    return inside(Path(plan.work_dir), "inductor", setup.label or "default", case.key)


def job_options(plan: Plan) -> Options:
    request = plan.request
    return Options(checkpoint=request.checkpoint, checkpoint_dir=Path(plan.work_dir) / "checkpoints",
                   lora_rank=request.lora_rank, lora_targets=request.lora_targets, data_dir=request.data_dir,
                   loader_workers=request.loader_workers_or_default)


def run_in_worker(runner: Runner, setup: Setup, job: CaseJob) -> RunRecord | None:
    """One run in a fresh worker; None when the run is stopping (a signal killed it)."""
    timeout = job.rules.case_timeout_s
    data, exit_ = runner.call(setup, WorkerRequest("case", case=job), timeout)
    if exit_.stopped:
        return None
    return decoded_record(job, data, exit_, "the worker") or lost_record(job, exit_, timeout)


def decoded_record(job: CaseJob, data, exit_: Exit, who: str) -> RunRecord | None:
    """The record a worker (or rank 0) wrote, with the process's wall time; None if it wrote none."""
    if data is None:
        return None
    try:
        return dataclasses.replace(from_jsonable(RunRecord, data), duration_s=exit_.seconds)
    except DecodeError as error:
        return RunRecord(job.index, Status.FAILED, f"{who}'s result is unreadable: {error}")


def lost_record(job: CaseJob, exit_: Exit, timeout_s: float, prefix: str = "") -> RunRecord:
    """A run that left no result: it hung past its timeout, or its process died."""
    status = Status.TIMEOUT if exit_.timed_out else Status.CRASHED
    return RunRecord(job.index, status, prefix + exit_.describe(timeout_s), duration_s=exit_.seconds)


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
    finished = sum(1 for r in records if r.status is Status.SKIPPED or len(r.runs) == request.runs_per_case)
    info = RunInfo(suite=request.suite, device=setup_plan.device, label=setup.label or request.label,
                   argv=list(request.argv), cases_planned=len(plan.cases), cases_finished=finished,
                   interrupted=interrupted, wall_s=round(wall_s, 3), rules=request.rules,
                   runs=request.runs_per_case, setup=setup, started=plan.started,
                   distributed=dataclasses.asdict(request.launch) if request.launch else None)
    return Report(setup_plan.environment, info, setup_plan.ceilings, records, pytest_benchmark=pytest_benchmark_info())


def pytest_benchmark_info() -> dict:
    """The commit and pytest-benchmark version fields of its JSON, as pytest-benchmark fills them."""
    import pytest_benchmark
    from pytest_benchmark.utils import get_commit_info

    return {"commit_info": get_commit_info(), "version": pytest_benchmark.__version__}
