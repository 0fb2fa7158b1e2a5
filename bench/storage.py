"""Reports on disk: pytest-benchmark's JSON with torchrig's fields, versioned, never overwritten.

Layout (pytest-benchmark's own keys stay readable by `pytest-benchmark compare`):
- ``benchmarks``: the measured cases, each with pytest-benchmark ``stats`` (per-step
  seconds, raw data) and the full torchrig record in ``extra_info``;
- ``machine_info``: pytest-benchmark's, plus ``torchrig`` (machine id, device name);
- ``torchrig``: the environment (envcheck's snapshot), the run's configuration, the
  device's matmul ceilings, and ``unmeasured``: cases skipped, failed, oom, timed
  out or crashed, with their reason.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from pathlib import Path
from typing import Any

from bench.config import TimingRules
from bench.result import CaseResult
from bench.timing import summarize
from envcheck.jsonio import write_json_atomic

SCHEMA_VERSION = 1
TOOL = "torchrig.bench"
TEST_PATH = "bench/test_bench.py::test_case"


class ReportError(ValueError):
    """A file that is not a torchrig report, or one of an unknown schema version."""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def device_name(facts: dict[str, Any], device: str) -> str:
    """The hardware a baseline is matched by, e.g. 'nvidia-h200' or 'cpu-amd-epyc'."""
    if device.startswith("cuda") and facts.get("gpus"):
        return slug(facts["gpus"][0]["name"])
    return "cpu-" + slug(facts["cpu"]["model"] or "unknown")


def machine_id(facts: dict[str, Any], device: str) -> str:
    return f"{slug(facts['system']['hostname'])}-{device_name(facts, device)}"


def derived_metrics(result: CaseResult, ceilings: dict[str, Any], rules: TimingRules) -> dict[str, Any]:
    """Throughput, spread, FLOP rate and MFU from the raw rounds of an ok case."""
    if not result.round_s or not result.steps_per_round:
        return {}
    step = summarize(result.round_s, result.steps_per_round, rules)
    median = step.median_s
    metrics: dict[str, Any] = {
        "samples_per_s": result.case.batch_size / median,
        "step_s_median": median,
        "step_s_iqr": step.iqr_s,
        "step_s_cv": step.cv,
        "unstable": bool(step.unstable_reasons),
        "unstable_reasons": list(step.unstable_reasons),
    }
    if result.flops_per_step:
        tflops = result.flops_per_step / median / 1e12
        ceiling = ceilings.get(result.case.precision)
        metrics["tflops"] = tflops
        metrics["mfu"] = tflops / ceiling if isinstance(ceiling, float) and ceiling > 0 else None
    return metrics


def benchmark_entry(result: CaseResult, ceilings: dict[str, Any], rules: TimingRules) -> dict[str, Any]:
    """A pytest-benchmark 'benchmarks' entry for a measured case."""
    step = summarize(result.round_s, result.steps_per_round, rules)
    stats = step.stats.as_dict()
    stats.update(data=list(step.stats.data), iterations=result.steps_per_round)
    case = result.case
    return {
        "group": case.group,
        "name": f"test_case[{case.id}]",
        "fullname": f"{TEST_PATH}[{case.id}]",
        "params": {"case": case.id},
        "param": case.id,
        "extra_info": {**result.as_dict(), **derived_metrics(result, ceilings, rules)},
        "options": {"disable_gc": False, "timer": "device_synchronized_perf_counter",
                    "min_rounds": rules.rounds, "max_time": None, "min_time": rules.min_round_s,
                    "precision": None, "confidence": None, "warmup": True},
        "stats": stats,
    }


def unmeasured_entry(result: CaseResult, ceilings: dict[str, Any], rules: TimingRules) -> dict[str, Any]:
    return {"name": f"test_case[{result.case.id}]", "group": result.case.group,
            **result.as_dict(), **derived_metrics(result, ceilings, rules)}


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def machine_info(environment: dict[str, Any], device: str) -> dict[str, Any]:
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info

    info = pytest_benchmark_generate_machine_info()
    facts = environment["facts"]
    info["torchrig"] = {"machine_id": machine_id(facts, device), "device": device,
                        "device_name": device_name(facts, device)}
    return info


def build_report(results: list[CaseResult], *, environment: dict[str, Any], device: str,
                 run: dict[str, Any], ceilings: dict[str, Any], rules: TimingRules,
                 collectives: dict[str, Any] | None = None) -> dict[str, Any]:
    import pytest_benchmark
    from pytest_benchmark.utils import get_commit_info

    measured = [r for r in results if r.status == "ok"]
    others = [r for r in results if r.status != "ok"]
    return {
        "machine_info": machine_info(environment, device),
        "commit_info": get_commit_info(),
        "benchmarks": [benchmark_entry(r, ceilings, rules) for r in measured],
        "datetime": now_iso(),
        "version": pytest_benchmark.__version__,
        "schema_version": SCHEMA_VERSION,
        "torchrig": {
            "tool": TOOL,
            "environment": environment,
            "run": {**run, "rules": dataclasses.asdict(rules)},
            "ceilings": {"device": device, "tflops": ceilings},
            "unmeasured": [unmeasured_entry(r, ceilings, rules) for r in others],
            **({"collectives": collectives} if collectives is not None else {}),
        },
    }


def report_path(out_dir: Path, report: dict[str, Any], suite: str) -> Path:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(out_dir) / report["machine_info"]["torchrig"]["machine_id"] / f"{stamp}-{suite}.json"


def write_report(report: dict[str, Any], path: Path) -> Path:
    """Write atomically; never replace an earlier report (a clash gets a -N suffix)."""
    candidate = path
    for attempt in range(1, 1000):
        try:
            return write_json_atomic(candidate, report, overwrite=False)
        except FileExistsError:
            candidate = path.with_name(f"{path.stem}-{attempt}{path.suffix}")
    raise ReportError(f"too many reports named like {path}")


def load_report(path: Path) -> dict[str, Any]:
    """Read a report; a foreign file or an unknown schema version is a ReportError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"{path}: cannot read ({error})") from None
    except json.JSONDecodeError as error:
        raise ReportError(
            f"{path}: not JSON ({error.msg} at line {error.lineno}); expected a torchrig report") from None
    torchrig = data.get("torchrig") if isinstance(data, dict) else None
    if not isinstance(torchrig, dict) or torchrig.get("tool") != TOOL:
        raise ReportError(f"{path}: not a torchrig bench report (expected 'torchrig.tool' = {TOOL!r})")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ReportError(f"{path}: schema_version {version!r} is not supported (this torchrig reads {SCHEMA_VERSION})")
    return data


def all_cases(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every case record of a report, measured or not (extra_info holds the record)."""
    return [entry["extra_info"] for entry in report["benchmarks"]] + list(report["torchrig"]["unmeasured"])
