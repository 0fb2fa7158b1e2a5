"""Every status path of the runner, with faults injected into real worker processes."""

from __future__ import annotations

import math

import pytest

from bench.cases import Case, DeviceCaps
from bench.config import TimingRules
from bench.runner import run_cases
from bench.worker import WorkerSettings

FAST = TimingRules(min_round_s=0.01, rounds=5, warmup_max_s=0.2, case_timeout_s=60.0)
CPU = DeviceCaps("cpu")


def case(fault=None, **overrides) -> Case:
    fields = {"model": "mlp", "mode": "train", "backend": "eager", "precision": "fp32",
              "batch_size": 8, "device": "cpu", "fault": fault, **overrides}
    return Case(**fields)


def settings(tmp_path, **rules) -> WorkerSettings:
    return WorkerSettings(TimingRules(**{**FAST.__dict__, **rules}), None, tmp_path)


@pytest.mark.slow
def test_faults_are_recorded_and_the_run_goes_on(tmp_path):
    cases = [
        case("raise"),
        case("oom"),
        case("abort"),
        case(),  # a fresh worker after the abort
        case(precision="amp-fp16"),  # skipped on the CPU, never sent to a worker
        case(mode="finetune"),
    ]
    outcome = run_cases(cases, CPU, settings(tmp_path))
    statuses = [(r.status, r.reason) for r in outcome.results]
    assert statuses[0] == ("failed", "RuntimeError: injected failure")
    assert statuses[1][0] == "oom" and "out of memory" in statuses[1][1]
    assert statuses[2] == ("crashed", "worker killed by SIGABRT (exit code -6)")
    assert statuses[3] == ("ok", None)
    assert statuses[4][0] == "skipped" and "CUDA" in statuses[4][1]
    assert statuses[5] == ("ok", None)
    assert not outcome.interrupted
    assert isinstance(outcome.ceilings["fp32"], float) and outcome.ceilings["fp32"] > 0


@pytest.mark.slow
def test_a_hang_times_out_and_the_next_case_runs(tmp_path):
    outcome = run_cases([case("hang"), case()], CPU, settings(tmp_path, case_timeout_s=8.0))
    first, second = outcome.results
    assert first.status == "timeout" and "8 s case timeout" in first.reason
    assert second.status == "ok"


@pytest.mark.slow
def test_ok_case_records_the_whole_measurement(tmp_path):
    (result,) = run_cases([case(mode="finetune")], CPU, settings(tmp_path)).results
    assert result.status == "ok"
    assert len(result.round_s) == 5 and all(r > 0 for r in result.round_s)
    assert result.steps_per_round >= 1
    assert result.flops_per_step > 0
    assert result.memory_kind == "rss" and result.peak_memory_bytes > 0
    assert math.isfinite(result.loss_start) and math.isfinite(result.loss_end)
    assert result.loss_end < result.loss_start  # the fixed batch is being learned
    assert 0 < result.params_trainable < result.params_total  # only the head trains
    assert result.compile_s is None  # eager


def test_interrupt_keeps_the_finished_cases(tmp_path):
    def interrupt_after_first(index, total, result):
        if index == 1:
            raise KeyboardInterrupt

    outcome = run_cases([case(precision="tf32"), case(precision="amp-fp16")], CPU, settings(tmp_path),
                        on_result=interrupt_after_first)
    assert outcome.interrupted
    assert [r.status for r in outcome.results] == ["skipped"]
