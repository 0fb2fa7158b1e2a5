"""The report: one typed model that owns the JSON (pyperf's ``_bench.py`` is the model to follow).

On disk it is pytest-benchmark's JSON (``pytest-benchmark compare`` reads it) with
torchrig's fields: each measured case is a ``benchmarks`` entry whose ``extra_info`` is
its CaseRecord; ``torchrig`` holds the environment, the run, the matmul ceilings and the
cases that were not measured. ``Report.load`` refuses anything else with a ReportError
naming the file and the first problem; ``Report.dump`` writes atomically, never over a file.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from bench import config
from bench.config import TimingRules
from bench.results.ceilings import Ceilings
from bench.results.datasheets import datasheet_for
from bench.results.limits import gpu_name, micro_figure
from bench.results.records import CaseRecord, Status
from envcheck.codec import DecodeError, from_jsonable, read_json, to_jsonable
from envcheck.files import inside, json_text, write_atomic
from envcheck.fingerprint import Fingerprint, device_name, hardware_fingerprint, slug
from envcheck.report import Environment
from envcheck.stamps import file_stamp, now_iso

SCHEMA_VERSION = 3  # 3: the invocation is "invocation" (2 called it "run", the word for one process measuring a
# case); 2: replicated runs per case, noise, fingerprints; 1: one process, rounds only
TOOL = "torchrig.bench"
OLD_VERSIONS = {1: "reports of version 1 hold one process per case: measure again",
                2: "version 2 named the invocation 'run', the word for one process measuring a case: measure again "
                   "with this torchrig, or read it with torchrig 0.1"}
TOP_LEVEL = ("machine_info", "commit_info", "benchmarks", "datetime", "version", "schema_version", "torchrig")
TIMER = "device_synchronized_perf_counter"
TEST_PATH = "bench/test_bench.py::test_case"
ENTRY_KEYS = ("group", "name", "fullname", "params", "param", "extra_info", "options", "stats")


class ReportError(ValueError):
    """A file that is not a torchrig report, or a malformed one: the message names the file."""


@dataclasses.dataclass
class Setup:
    """The software a run measured: an interpreter and the environment variables it ran with."""

    label: str
    python: str
    env: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SequentialDesign:
    """How a report's runs were collected when it was replicated until decided (Invocation.sequential); the
    levels of its looks are bench/analysis/sequential.py's."""

    planned_runs: int  # runs per side at the first look
    max_looks: int = config.SEQUENTIAL_MAX_LOOKS  # the first look and at most max_looks - 1 added runs a side
    gamma: float = config.SEQUENTIAL_SPENDING_GAMMA

    def __post_init__(self) -> None:
        if self.planned_runs < 1:
            raise ValueError(f"planned_runs must be >= 1, got {self.planned_runs}")
        if self.max_looks < 1:
            raise ValueError(f"max_looks must be >= 1, got {self.max_looks}")
        if not math.isfinite(self.gamma):
            raise ValueError(f"gamma must be finite, got {self.gamma}")

    @property
    def max_runs(self) -> int:
        return self.planned_runs + self.max_looks - 1

    def look(self, runs: int) -> int:
        """The look (1-based) at which a side holds ``runs`` runs: the planned runs are look 1."""
        return min(max(runs - self.planned_runs, 0) + 1, self.max_looks)


@dataclasses.dataclass
class Invocation:
    suite: str
    device: str
    label: str | None
    argv: list[str]
    cases_planned: int
    cases_finished: int
    interrupted: bool
    wall_s: float
    rules: TimingRules
    runs: int  # fresh processes per case, as planned
    setup: Setup
    started: str
    distributed: dict[str, Any] | None = None  # the torchrun launch of data-parallel cases
    sequential: SequentialDesign | None = None  # replicated until decided: how its looks were planned
    # random, made when it was planned and kept by --resume (its journal's plan holds it): the results database
    # finds the invocation's row by it, from its start to its report ("" in reports before it)
    id: str = ""


@dataclasses.dataclass
class Report:
    environment: Environment
    invocation: Invocation  # the `bench run` (or validate) that measured it
    ceilings: Ceilings
    cases: list[CaseRecord]
    created: str = dataclasses.field(default_factory=now_iso)
    pytest_benchmark: dict[str, Any] = dataclasses.field(default_factory=dict)  # its own fields, kept

    @property
    def device(self) -> str:
        return self.invocation.device

    @property
    def fingerprint(self) -> Fingerprint:
        return hardware_fingerprint(self.environment.facts, self.device)

    @property
    def device_name(self) -> str:
        return device_name(self.environment.facts, self.device)

    @property
    def machine_id(self) -> str:
        return f"{slug(self.environment.facts.system.hostname)}-{self.device_name}"

    @property
    def label(self) -> str:
        """The run's --label, else its setup's, else '<machine-id> torch <version>'."""
        torch = self.environment.facts.torch
        return self.invocation.label or f"{self.machine_id} torch {torch.version if torch else '?'}"

    def same_invocation(self, other: Report) -> bool:
        """Both reports come from one `bench run` (its setups, interleaved): drift lands on both alike. By the
        invocation's random id; reports written before it had one fall back to the start stamp (to the second,
        so two CI jobs started in one second would pass as one)."""
        if self.invocation.id or other.invocation.id:
            return self.invocation.id == other.invocation.id
        return self.invocation.started == other.invocation.started

    def same_as(self, other: Report) -> bool:
        """The same report: equal content (a copy of one file is not a second run)."""
        return self.created == other.created and self.to_json() == other.to_json()

    def find(self, key: str) -> CaseRecord | None:
        return next((record for record in self.cases if record.key == key), None)

    def cases_noisy(self) -> list[CaseRecord]:
        return [record for record in self.cases if record.noisy]

    def ok_cases(self) -> list[CaseRecord]:
        return [record for record in self.cases if record.status is Status.OK]

    # ------------------------------------------------------------------ figures relating a case to others

    def mfu(self, record: CaseRecord) -> float | None:
        """Achieved TFLOP/s over the matmul ceiling of the case's precision measured in this run."""
        tflops = record.tflops
        ceiling = self.ceilings.tflops.get(record.case.precision)
        return tflops / ceiling if tflops is not None and ceiling else None

    def items_per_s(self, key: str) -> float | None:
        """The throughput of the case ``key`` when it was measured here."""
        record = self.find(key)
        return record.items_per_s if record and record.status is Status.OK else None

    def relative_speed(self, record: CaseRecord, **axes) -> float | None:
        """``record``'s throughput over that of its sibling with ``axes`` changed (both measured here)."""
        key = record.case.sibling(**axes).key
        other = self.items_per_s(key) if key != record.key else None
        return record.items_per_s / other if other and record.items_per_s else None

    def speedup(self, record: CaseRecord) -> float | None:
        """Against eager fp32 of the same model, mode, batch and world size (None for that case itself)."""
        case = record.case
        if case.backend == "eager" and case.precision == "fp32":
            return None
        return self.relative_speed(record, backend="eager", precision="fp32")

    def break_even(self, record: CaseRecord) -> int | str | None:
        """Steps until compiling (a cold compile) has paid for itself against eager of the same precision:
        compile_s / (eager step - compiled step), or 'never' when compiling does not pay."""
        eager = self.find(record.case.sibling(backend="eager").key)
        cold = record.compile_s("cold")
        if record.case.backend == "eager" or cold is None or eager is None or not eager.step_s or not record.step_s:
            return None
        saved = eager.step_s - record.step_s
        return math.ceil(cold / saved) if saved > 0 else "never"

    def scaling_efficiency(self, record: CaseRecord) -> float | None:
        """A data-parallel case's throughput over world size x its single-process reference's."""
        if record.case.world_size == 1:
            return None
        speed = self.relative_speed(record, world_size=1, dist_backend=None)
        return speed / record.case.world_size if speed else None

    # ------------------------------------------------------------------ writing

    def to_json(self) -> dict[str, Any]:
        measured = [r for r in self.cases if r.status is Status.OK]
        return {
            "machine_info": machine_info(self),
            "commit_info": self.pytest_benchmark.get("commit_info", {}),
            "benchmarks": [benchmark_entry(self, record) for record in measured],
            "datetime": self.created,
            "version": self.pytest_benchmark.get("version", "?"),
            "schema_version": SCHEMA_VERSION,
            "torchrig": self.torchrig_block(),
        }

    def torchrig_block(self) -> dict[str, Any]:
        block = {"tool": TOOL, "environment": to_jsonable(self.environment), "invocation": to_jsonable(self.invocation),
                 "ceilings": to_jsonable(self.ceilings),
                 "unmeasured": [record_json(self, r) for r in self.cases if r.status is not Status.OK]}
        return block

    def dump(self, path: Path) -> Path:
        """Write atomically; never replace an earlier file (a clash gets a -N suffix)."""
        text = json_text(self.to_json())
        for attempt in range(1000):
            candidate = path if attempt == 0 else path.with_name(f"{path.stem}-{attempt}{path.suffix}")
            try:
                return write_atomic(candidate, text, overwrite=False)
            except FileExistsError:
                continue
        raise ReportError(f"too many reports named like {path}")

    def default_path(self, out_dir: Path) -> Path:
        """OUT/<machine-id>/<UTC time>-<suite>[-<label>].json"""
        stamp = file_stamp()
        suffix = f"-{slug(self.invocation.label)}" if self.invocation.label else ""
        return inside(Path(out_dir), self.machine_id, f"{stamp}-{slug(self.invocation.suite)}{suffix}.json")

    # ------------------------------------------------------------------ reading

    @classmethod
    def load(cls, path: Path) -> Report:
        """Read and check a report; ReportError ('<path>: <what is wrong>') for anything else."""
        path = Path(path)
        data = read_json_file(path)
        try:
            return cls.from_json(data)
        except DecodeError as error:
            raise ReportError(f"{path}: {error}") from None

    @classmethod
    def from_json(cls, data: Any) -> Report:
        torchrig = data.get("torchrig") if isinstance(data, dict) else None
        if not isinstance(torchrig, dict) or torchrig.get("tool") != TOOL:
            raise DecodeError(f"not a torchrig bench report (expected 'torchrig.tool' = {TOOL!r})")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DecodeError(f"schema_version {version!r} is not supported (this torchrig reads {SCHEMA_VERSION}; "
                              + OLD_VERSIONS.get(version, "a report of another tool or a newer torchrig") + ")")
        missing = [key for key in TOP_LEVEL if key not in data]
        extra = sorted(set(data) - set(TOP_LEVEL))
        if missing:
            raise DecodeError(f"$: missing field {missing[0]!r}")
        if extra:
            raise DecodeError(f"$: unexpected field {extra[0]!r}")
        benchmarks = from_jsonable(list[dict[str, Any]], data["benchmarks"], "$.benchmarks")
        measured = []
        for index, entry in enumerate(benchmarks):
            where = f"$.benchmarks[{index}]"
            missing = [key for key in ENTRY_KEYS if key not in entry]
            if missing:
                raise DecodeError(f"{where}: missing field {missing[0]!r}")
            record = from_jsonable(CaseRecord, entry["extra_info"], f"{where}.extra_info")
            if record.status is not Status.OK:
                raise DecodeError(f"{where}.extra_info: a measured case must be ok, got {record.status.value}")
            measured.append(record)
        block = {key: torchrig.get(key) for key in ("environment", "invocation", "ceilings", "unmeasured")}
        known = {"tool", *block}
        if set(torchrig) - known:
            raise DecodeError(f"$.torchrig: unexpected field {sorted(set(torchrig) - known)[0]!r}")
        unmeasured = from_jsonable(list[CaseRecord], block["unmeasured"], "$.torchrig.unmeasured")
        cases = measured + unmeasured
        keys = [record.key for record in cases]
        if len(set(keys)) != len(keys):
            duplicate = next(key for key in keys if keys.count(key) > 1)
            raise DecodeError(f"$: case {duplicate} appears twice")
        return cls(
            environment=from_jsonable(Environment, block["environment"], "$.torchrig.environment"),
            invocation=from_jsonable(Invocation, block["invocation"], "$.torchrig.invocation"),
            ceilings=from_jsonable(Ceilings, block["ceilings"], "$.torchrig.ceilings"),
            cases=cases,
            created=from_jsonable(str, data["datetime"], "$.datetime"),
            pytest_benchmark={"commit_info": from_jsonable(dict[str, Any], data["commit_info"], "$.commit_info"),
                              "version": from_jsonable(str, data["version"], "$.version"),
                              "machine_info": from_jsonable(dict[str, Any], data["machine_info"], "$.machine_info")},
        )




def read_json_file(path: Path, expected: str = "a torchrig report") -> Any:
    """A file's strict JSON; ReportError ('<path>: <what is wrong>; expected ...') when it cannot be read."""
    try:
        return read_json(path)
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    except DecodeError as error:
        raise ReportError(f"{path}: {error}; expected {expected}") from None

# ---------------------------------------------------------------- pytest-benchmark's side of the layout
# machine_info, a ``benchmarks`` entry per measured case, and the derived ``summary`` each case record carries
# for people and jq (the pytest-benchmark front end's hooks use them too).


def machine_info(report) -> dict[str, Any]:
    info = dict(report.pytest_benchmark.get("machine_info") or generated_machine_info())
    python = report.environment.facts.python  # the interpreter that ran the cases, not the one writing
    info.update(python_version=python.version, python_implementation=python.implementation)
    fingerprint = report.fingerprint
    info["torchrig"] = {"machine_id": report.machine_id, "device": report.device, "device_name": report.device_name,
                        "fingerprint": fingerprint.id, "fingerprint_fields": [list(f) for f in fingerprint.fields]}
    return info


def generated_machine_info() -> dict[str, Any]:
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info

    return pytest_benchmark_generate_machine_info()


def summary(report, record: CaseRecord) -> dict[str, Any]:
    """The case's derived figures, as the tables show them (recomputed on load, never trusted)."""
    workload = record.workload
    out: dict[str, Any] = {"runs_ok": len(record.ok_runs), "runs": len(record.runs), "noisy": record.noisy,
                           "noise_reasons": record.noise_reasons}
    if workload is None:
        return out
    peak = record.peak_memory
    out.update({
        "unit": workload.unit, "items_per_s": record.items_per_s, "step_s_median": record.step_s,
        "run_spread_cv": record.run_spread, "tflops": record.tflops, "mfu": report.mfu(record),
        "compile_cold_s": record.compile_s("cold"), "compile_warm_s": record.compile_s("warm"),
        "warmup_unsteady": record.warmup_unsteady, "latency_s": record.latency_percentiles(),
        "prefill_decode_tokens_per_s": record.generation_rates(),
        "trainable_fraction": workload.trainable_fraction,
        "peak_memory_bytes": peak[0] if peak else None, "memory_kind": peak[1] if peak else None,
    })
    if record.case.micro is not None and record.status is Status.OK:  # its figure, beside the GPU's datasheet
        figure = micro_figure(record, datasheet_for(gpu_name(report)))
        out["micro"] = {"figure": figure.value, "unit": figure.unit, "datasheet": figure.datasheet,
                        "datasheet_figure": figure.datasheet_figure, "of_datasheet": figure.of_datasheet,
                        "sku": figure.sku, "datasheet_verified": figure.verified}
    return out


def record_json(report, record: CaseRecord) -> dict[str, Any]:
    data = to_jsonable(record)
    data["summary"] = summary(report, record)
    return data


def benchmark_entry(report, record: CaseRecord) -> dict[str, Any]:
    """A pytest-benchmark 'benchmarks' entry: stats over every round of every run, per step."""
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for run in record.ok_runs:
        for seconds in run.round_s:
            stats.update(seconds / run.steps_per_round)
    data = stats.as_dict()
    data.update(data=list(stats.data), iterations=record.ok_runs[0].steps_per_round)
    case, rules = record.case, report.invocation.rules
    return {
        "group": case.group, "name": f"test_case[{case.key}]", "fullname": f"{TEST_PATH}[{case.key}]",
        "params": {"case": case.key}, "param": case.key, "extra_info": record_json(report, record),
        "options": {"disable_gc": False, "timer": TIMER, "min_rounds": rules.rounds, "max_time": None,
                    "min_time": rules.min_round_s, "precision": None, "confidence": None, "warmup": True},
        "stats": data,
    }
