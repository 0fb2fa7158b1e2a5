"""Every micro-benchmark that runs on a CPU, run in this process at tiny sizes under the real protocol: the
bytes each step counts, the units, and the corruption check catching an injected bit flip at its iteration."""

from __future__ import annotations

import pytest

from bench import config
from bench.config import TimingRules
from bench.measure.jobs import CaseJob, Options
from bench.measure.micro import CorruptionStep, build_micro_step, run_micro_case
from bench.measure.worker import run_case_job
from bench.results.cases import Case
from bench.results.micro import MIB, get_micro
from bench.results.records import Status

TINY = TimingRules(min_round_s=0.005, rounds=5, warmup_max_s=0.05)


def micro(model: str, size: int = 1) -> Case:
    return Case(model, "micro", "eager", "fp32", size, "cpu")


@pytest.mark.parametrize(("model", "arrays"), [("mem-copy", 2), ("mem-triad", 3)])
def test_stream_runs_count_stream_bytes(model, arrays):
    record = run_micro_case(micro(model, 1), TINY)
    assert record.status is Status.OK, record.reason
    assert record.workload.items_per_step == arrays * MIB  # 1 MiB float64 buffers: 8 B x 131072 per array
    assert record.workload.unit == "bytes" and record.micro.buffer_bytes == MIB
    assert len(record.round_s) == TINY.rounds and record.items_per_s > 0


def test_triad_computes_b_plus_s_times_c():
    step = build_micro_step(micro("mem-triad", 1))
    step()
    a, b, c = step.arrays
    assert float(a[0]) == float(b[0]) + 3.0 * float(c[0]) == 2.0 + 3.0 * 3.0


def test_launch_is_one_tiny_op_a_step_in_microseconds():
    record = run_micro_case(micro("launch"), TINY)
    assert record.status is Status.OK and record.workload.items_per_step == 1
    assert record.workload.unit == "launches"
    assert 0 < get_micro("launch").figure(record.items_per_s) < 10_000  # a tiny op costs microseconds, not ms


@pytest.fixture
def small_matmul(monkeypatch):
    monkeypatch.setitem(config.MICRO_SDC_MATMUL_N, "cpu", 48)


def test_repeated_matmuls_agree_bitwise_and_with_float64(small_matmul):
    step = CorruptionStep(micro("sdc-matmul", 1), "cpu")
    for _ in range(5):
        step()
    (check,) = step.checks(seconds=0.1)
    assert check.iterations == 6 and check.mismatches == 0 and check.first_mismatch is None
    assert check.reference_error < check.reference_bound and check.failure is None
    assert step.count_flops() == 2 * 48**3 and step.items_per_step() == 1


def test_an_injected_bit_flip_is_caught_and_named(small_matmul):
    step = build_micro_step(micro("sdc-matmul", 1), fault="bitflip:3")
    for _ in range(6):
        step()
    (check,) = step.checks(seconds=0.1)
    assert check.mismatches == 1 and check.first_mismatch == 3  # only iteration 3's result was flipped
    assert "silent data corruption on cpu: iteration 3 differs bitwise" in check.failure


@pytest.mark.slow  # the load lasts the case's one second at least
def test_a_corrupt_run_is_broken_with_its_reason(small_matmul, monkeypatch):
    """Through the worker's own entry, the fault read from TORCHRIG_FAULT as every test-only fault is."""
    monkeypatch.setenv("TORCHRIG_FAULT", "micro-sdc-matmul-*=bitflip:2")
    job = CaseJob(micro("sdc-matmul", 1), TimingRules(min_round_s=0.002, rounds=5, warmup_max_s=0.02), 0, Options())
    record = run_case_job(job)
    assert record.status is Status.FAILED and "iteration 2 differs bitwise" in record.reason
    assert record.micro.corruption[0].seconds >= 1.0  # loaded for the case's size in seconds
