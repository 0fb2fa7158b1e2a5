"""The report: one typed model that owns the JSON (pyperf's ``_bench.py`` is the model to follow).

On disk it is pytest-benchmark's JSON (``pytest-benchmark compare`` reads it) with
torchrig's fields: each measured case is a ``benchmarks`` entry whose ``extra_info`` is
its CaseRecord; ``torchrig`` holds the environment, the run, the matmul ceilings and the
cases that were not measured. ``Report.load`` refuses anything else with a ReportError
naming the file and the first problem; ``Report.dump`` writes atomically, never over a file.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

from bench.config import TimingRules
from bench.records import CaseRecord, Status
from envcheck.codec import DecodeError, from_jsonable, read_json, to_jsonable
from envcheck.files import inside, json_text, write_atomic
from envcheck.fingerprint import Fingerprint, device_name, hardware_fingerprint, slug
from envcheck.report import Environment

SCHEMA_VERSION = 2  # 2: replicated runs per case, noise, fingerprints (1: one process, rounds only)
TOOL = "torchrig.bench"
TOP_LEVEL = ("machine_info", "commit_info", "benchmarks", "datetime", "version", "schema_version", "torchrig")
ENTRY_KEYS = ("group", "name", "fullname", "params", "param", "extra_info", "options", "stats")


class ReportError(ValueError):
    """A file that is not a torchrig report, or a malformed one: the message names the file."""


@dataclasses.dataclass
class Setup:
    """The software a run measured: an interpreter and the environment variables it ran with."""

    label: str
    python: str
    env: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RunInfo:
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


@dataclasses.dataclass
class Ceilings:
    """The device's matmul rate per precision (docs/measurement.md, rule 8), for MFU."""

    device: str
    tflops: dict[str, float]
    unmeasured: dict[str, str] = dataclasses.field(default_factory=dict)  # precision -> why not
    source: str = "measured"  # measured, cached (same fingerprint and torch), or given
    sizes: dict[str, int] = dataclasses.field(default_factory=dict)  # the matmul size of each rate


@dataclasses.dataclass
class Report:
    environment: Environment
    run: RunInfo
    ceilings: Ceilings
    cases: list[CaseRecord]
    created: str = dataclasses.field(default_factory=lambda: now_iso())
    pytest_benchmark: dict[str, Any] = dataclasses.field(default_factory=dict)  # its own fields, kept

    @property
    def device(self) -> str:
        return self.run.device

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
        return self.run.label or f"{self.machine_id} torch {torch.version if torch else '?'}"

    def same_as(self, other: Report) -> bool:
        """The same report: equal content (a copy of one file is not a second run)."""
        return self.created == other.created and self.to_json() == other.to_json()

    def find(self, key: str) -> CaseRecord | None:
        return next((record for record in self.cases if record.key == key), None)

    def cases_noisy(self) -> list[CaseRecord]:
        return [record for record in self.cases if record.noisy]

    def ok_cases(self) -> list[CaseRecord]:
        return [record for record in self.cases if record.status is Status.OK]

    def mfu(self, record: CaseRecord) -> float | None:
        tflops = achieved_tflops(record)
        ceiling = self.ceilings.tflops.get(record.case.precision)
        return tflops / ceiling if tflops is not None and ceiling else None

    # ------------------------------------------------------------------ writing

    def to_json(self) -> dict[str, Any]:
        from bench.layout import benchmark_entry, machine_info

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
        from bench.layout import record_json

        block = {"tool": TOOL, "environment": to_jsonable(self.environment), "run": to_jsonable(self.run),
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
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        suffix = f"-{slug(self.run.label)}" if self.run.label else ""
        return inside(Path(out_dir), self.machine_id, f"{stamp}-{slug(self.run.suite)}{suffix}.json")

    # ------------------------------------------------------------------ reading

    @classmethod
    def load(cls, path: Path) -> Report:
        """Read and check a report; ReportError ('<path>: <what is wrong>') for anything else."""
        path = Path(path)
        try:
            data = read_json(path)
        except FileNotFoundError:
            raise ReportError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ReportError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None
        except DecodeError as error:
            raise ReportError(f"{path}: {error}; expected a torchrig report") from None
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
                              "reports of version 1 hold one process per case: measure again)")
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
        block = {key: torchrig.get(key) for key in ("environment", "run", "ceilings", "unmeasured")}
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
            run=from_jsonable(RunInfo, block["run"], "$.torchrig.run"),
            ceilings=from_jsonable(Ceilings, block["ceilings"], "$.torchrig.ceilings"),
            cases=cases,
            created=from_jsonable(str, data["datetime"], "$.datetime"),
            pytest_benchmark={"commit_info": from_jsonable(dict[str, Any], data["commit_info"], "$.commit_info"),
                              "version": from_jsonable(str, data["version"], "$.version"),
                              "machine_info": from_jsonable(dict[str, Any], data["machine_info"], "$.machine_info")},
        )


def achieved_tflops(record: CaseRecord) -> float | None:
    workload = record.workload
    if workload is None or not workload.flops_per_step or not record.step_s:
        return None
    return workload.flops_per_step / record.step_s / 1e12


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def load_reports(paths: list[Path]) -> list[Report]:
    return [Report.load(path) for path in paths]
