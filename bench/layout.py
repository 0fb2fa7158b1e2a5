"""pytest-benchmark's side of the report layout: machine_info, a ``benchmarks`` entry per measured
case, and the derived ``summary`` each case record carries for people and jq. Used by the report
model only (bench/report.py), and by the pytest-benchmark front end's hooks.
"""

from __future__ import annotations

from typing import Any

from bench.records import CaseRecord
from bench.report import achieved_tflops
from envcheck.codec import to_jsonable

TIMER = "device_synchronized_perf_counter"
TEST_PATH = "bench/test_bench.py::test_case"


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
        "run_spread_cv": record.run_spread, "tflops": achieved_tflops(record), "mfu": report.mfu(record),
        "compile_cold_s": record.compile_s("cold"), "compile_warm_s": record.compile_s("warm"),
        "warmup_unsteady": record.warmup_unsteady, "latency_s": record.latency_percentiles(),
        "prefill_decode_tokens_per_s": record.generation_rates(),
        "trainable_fraction": workload.trainable_fraction,
        "peak_memory_bytes": peak[0] if peak else None, "memory_kind": peak[1] if peak else None,
    })
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
    case, rules = record.case, report.run.rules
    return {
        "group": case.group, "name": f"test_case[{case.key}]", "fullname": f"{TEST_PATH}[{case.key}]",
        "params": {"case": case.key}, "param": case.key, "extra_info": record_json(report, record),
        "options": {"disable_gc": False, "timer": TIMER, "min_rounds": rules.rounds, "max_time": None,
                    "min_time": rules.min_round_s, "precision": None, "confidence": None, "warmup": True},
        "stats": data,
    }
