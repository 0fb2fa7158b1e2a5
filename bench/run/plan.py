"""Plan a run request: each setup's environment (a snapshot taken in its own interpreter), device
and matmul ceilings; the cases; which of them are skipped here, and why (device, install, emulated
precision). The plan is what the journal records first, so that a run can be resumed from it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from bench import config
from bench.measure.jobs import CeilingJob, WorkerRequest
from bench.results.cases import Case, expand, unsupported_reason
from bench.results.ceilings import Ceilings, cache_key, cached, describe, store
from bench.results.journal import Entry
from bench.results.records import RunRecord
from bench.results.report import Invocation, Report, SequentialDesign, Setup
from bench.run.micro import micro_cases, micro_skip
from bench.run.process import Runner, is_this_interpreter
from bench.run.request import InvocationRequest, RequestError
from envcheck.codec import from_jsonable
from envcheck.fingerprint import hardware_fingerprint
from envcheck.report import Environment
from envcheck.stamps import now_iso

SETUP_TIMEOUT_S = 600.0  # a snapshot or the ceilings, in a fresh interpreter on a loaded machine


class Progress(Protocol):
    """What a run reports as it goes (bench/render/progress.py prints it)."""

    def note(self, text: str) -> None: ...
    def started(self, number: int, total: int, setup: Setup, case: Case, index: int) -> None: ...
    def finished(self, record: RunRecord) -> None: ...


class Listener(Protocol):
    """Who keeps an invocation as it goes, beside its journal (the results database: bench/store/stream.py).
    Called from the orchestrating process; it must not raise (a listener that fails stops listening, and the
    run goes on: the journal and the reports are what count)."""

    def begun(self, reports: list[Report], entries: list[Entry]) -> None:
        """The invocation started (or resumed): an empty report per setup, and the runs its journal holds."""

    def run_finished(self, entry: Entry) -> None:
        """A run finished and is in the journal."""

    def reports_written(self, reports: list[tuple[Report, Path]] | None) -> None:
        """The reports are on disk (None: the disk refused them; every finished run is in the journal)."""


@dataclasses.dataclass
class SetupPlan:
    setup: Setup
    environment: Environment
    device: str
    ceilings: Ceilings
    skipped: dict[str, str]  # case key -> why it does not run here
    emulated: list[str]  # case keys run although their precision is emulated (asked for explicitly)


@dataclasses.dataclass
class Plan:
    request: InvocationRequest
    cases: list[Case]
    setups: list[SetupPlan]
    work_dir: str  # fine-tune checkpoints and the inductor cache of each case
    started: str
    invocation_id: str = ""  # random; the work folder's marker holds it (bench/run/workdir.py)

    @property
    def design(self) -> SequentialDesign:
        """The looks of --until-decided: the first at the planned runs, then one per added run a side."""
        return SequentialDesign(self.request.runs_per_case)

    def invocation(self, setup_plan: SetupPlan, *, finished: int, interrupted: bool, wall_s: float,
                 runs: int | None = None) -> Invocation:
        """What a report of ``setup_plan`` says of the run that made it (``runs``: per case, as planned)."""
        request, setup = self.request, setup_plan.setup
        return Invocation(suite=request.suite, device=setup_plan.device, label=setup.label or request.label,
                       argv=list(request.argv), cases_planned=len(self.cases), cases_finished=finished,
                       interrupted=interrupted, wall_s=round(wall_s, 3), rules=request.rules,
                       runs=request.runs_per_case if runs is None else runs, setup=setup, started=self.started,
                       distributed=dataclasses.asdict(request.launch) if request.launch else None,
                       sequential=self.design if request.until_decided else None, id=self.invocation_id)

    def slots(self) -> Iterator[tuple[SetupPlan, Case, int]]:
        """Round-robin: run r of every case before run r+1; setups alternate in order (ABAB, BABA).
        Generated as they are taken: the plan's memory does not grow with --runs."""
        for index in range(self.request.runs_per_case):
            for position, case in enumerate(self.cases):
                order = self.setups if (index + position) % 2 == 0 else self.setups[::-1]
                yield from ((setup, case, index) for setup in order if case.key not in setup.skipped)

    def slot_count(self) -> int:
        """How many runs the plan holds, without listing them."""
        per_run = sum(1 for case in self.cases for setup in self.setups if case.key not in setup.skipped)
        return per_run * self.request.runs_per_case

    def entry_problem(self, setup_label: str, case_key: str, index: int) -> str | None:
        """Why a journal's run is not one of this plan's (None when it is): another setup, case or run index."""
        setup = next((s for s in self.setups if s.setup.label == setup_label), None)
        if setup is None:
            return f"setup {setup_label!r} is not in the journal's plan"
        if all(case.key != case_key for case in self.cases):
            return f"case {case_key!r} is not in the journal's plan"
        if case_key in setup.skipped:
            return f"case {case_key} is skipped in setup {setup_label!r}; it has no runs"
        runs = self.design.max_runs if self.request.until_decided else self.request.runs_per_case
        if not 0 <= index < runs:
            last = runs - 1
            return f"run index {index} of {case_key} is out of range (the plan has runs 0..{last})"
        return None


def snapshot_of(runner: Runner, setup: Setup) -> Environment:
    if is_this_interpreter(setup):
        from envcheck import snapshot

        return snapshot()
    data, exit_ = runner.call(setup, WorkerRequest("snapshot"), SETUP_TIMEOUT_S)
    if data is None:
        raise RequestError(f"setup {setup.label or setup.python}: cannot describe its environment "
                         f"({exit_.describe(SETUP_TIMEOUT_S)})")
    return from_jsonable(Environment, data)


def resolve_device(requested: str, environment: Environment, who: str) -> str:
    torch = environment.facts.torch
    if torch is None:
        raise RequestError(f"torch cannot be imported{who} ({environment.facts.torch_error}); "
                         "run `python -m envcheck`")
    if requested == "cuda" and not torch.cuda_available:
        raise RequestError(f"--device cuda, but no CUDA device is usable{who} (see `python -m envcheck`); "
                         "expected one of auto, cpu")
    if requested == "auto":
        return "cuda" if torch.cuda_available else "cpu"
    return requested


def plan_cases(request: InvocationRequest, device: str, environment: Environment | None = None) -> list[Case]:
    """The request's model cases (each also data-parallel with a launch), then its micro-benchmarks: those it
    names, else its suite's (sized for this machine from ``environment``)."""
    cases = expand(request.suite_def, device, models=request.models, modes=request.modes,
                   backends=request.backends, precisions=request.precisions, batch_sizes=request.batch_sizes,
                   channels_last=request.channels_last, data=request.data)
    launch = request.launch
    if launch is not None:  # each case also data-parallel, after its single-process reference
        backend = "nccl" if device == "cuda" else "gloo"
        ddp = [(case, case.sibling(world_size=launch.world_size, dist_backend=backend)) for case in cases]
        # the other nodes only join the data-parallel launches; node 0 measures the references and reports
        cases = [c for single, parallel in ddp for c in ((single, parallel) if launch.node_rank == 0 else (parallel,))]
    micro = request.micro if request.micro is not None else request.suite_def.micro
    if micro and environment is not None and (launch is None or launch.node_rank == 0):
        cases += micro_cases(micro, device, environment)
    return cases


def skips(request: InvocationRequest, cases: list[Case], environment: Environment, device: str):
    """(skipped case key -> reason, keys run with an emulated precision) for one setup."""
    caps = environment.facts.capabilities(device)
    skipped, emulated = {}, []
    for case in cases:
        if case.micro is not None:
            if reason := micro_skip(case, environment):
                skipped[case.key] = reason
            continue
        reason = unsupported_reason(case, caps, environment.facts.packages)
        support = caps.support(case.precision)
        if reason is None and not support.native:
            if request.precisions is None:
                reason = (f"{support.reason}; the suite skips it (pass --precisions {case.precision} "
                          "to time the emulation)")
            else:
                emulated.append(case.key)
        if reason:
            skipped[case.key] = reason
    return skipped, emulated


def ceilings_for(runner: Runner, request: InvocationRequest, setup: Setup, environment: Environment, device: str,
                 precisions: list[str], progress: Progress) -> Ceilings:
    given = dict(request.ceilings)
    if given and all(p in given for p in precisions):
        return Ceilings(device, {p: given[p] for p in precisions}, {}, "given")
    torch = environment.facts.torch
    key = cache_key(hardware_fingerprint(environment.facts, device).id, torch.version, device)
    found = cached(key, precisions)
    if found is not None or not precisions:
        return found or Ceilings(device, {}, {}, "measured")
    progress.note(f"measuring the matmul ceiling of {', '.join(precisions)} on {device} (cached afterwards) ...")
    data, exit_ = runner.call(setup, WorkerRequest("ceilings", ceilings=CeilingJob(device, tuple(precisions))),
                              SETUP_TIMEOUT_S)
    if data is None:
        return Ceilings(device, {}, {p: f"unmeasured: {exit_.describe(SETUP_TIMEOUT_S)}" for p in precisions})
    ceilings = from_jsonable(Ceilings, data)
    store(key, ceilings)
    progress.note(f"ceilings: {describe(ceilings)}")
    return ceilings


def make_plan(request: InvocationRequest, runner: Runner, progress: Progress) -> Plan:
    setups, cases = [], None
    for setup in request.all_setups:
        who = f" in setup {setup.label}" if request.setups else ""
        environment = snapshot_of(runner, setup)
        device = resolve_device(request.device, environment, who)
        check_data_support(request, environment, who)
        check_rank_count(request, environment, device)
        if cases is None:
            cases = plan_cases(request, device, environment)
        elif cases[0].device != device:
            raise RequestError(f"setups resolve to different devices ({cases[0].device} and {device}); pass --device")
        skipped, emulated = skips(request, cases, environment, device)
        precisions = sorted({c.precision for c in cases if c.key not in skipped and c.micro is None}
                            | set(config.MICRO_CEILINGS[device] if request.suite == "micro" else ()))
        ceilings = ceilings_for(runner, request, setup, environment, device, precisions, progress)
        setups.append(SetupPlan(setup, environment, device, ceilings, skipped, emulated))
    return Plan(request, cases, setups, str(runner.work_dir), now_iso())


def check_rank_count(request: InvocationRequest, environment: Environment, device: str) -> None:
    launch = request.launch
    if launch is None:
        return
    torch = environment.facts.torch
    error = launch.rank_count_error(device, environment.facts.cpu.logical_cores, torch.device_count if torch else 0)
    if error:
        raise RequestError(error)


def check_data_support(request: InvocationRequest, environment: Environment, who: str) -> None:
    """A DataLoader case needs torchvision; a broken one is envcheck's one-line diagnosis, exit 2."""
    facts = environment.facts
    if request.data == "synthetic-device" or not facts.torchvision_error:
        return
    from envcheck.checks.install import torchvision_fix

    fix = torchvision_fix(facts.torch.version, facts.torch.cuda_build, facts.torchvision_version)
    raise RequestError(f"--data {request.data} needs torchvision, which cannot be imported{who} "
                     f"({facts.torchvision_error}); {fix}")



def list_cases(request: InvocationRequest) -> list[tuple[str, str | None]]:
    """The cases a request would run on this machine, with the reason of those it would skip."""
    request.check_disk()
    with tempfile.TemporaryDirectory(prefix="torchrig-list-") as folder:
        setup = request.all_setups[0]
        environment = snapshot_of(Runner(Path(folder), fork=False), setup)  # one job: no server to amortise
    device = resolve_device(request.device, environment, "")
    cases = plan_cases(request, device, environment)
    skipped, _ = skips(request, cases, environment, device)
    return [(case.key, skipped.get(case.key)) for case in cases]
