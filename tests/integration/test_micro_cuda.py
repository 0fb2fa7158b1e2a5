"""The CUDA micro-benchmarks, in this process on device 0 at small sizes (bench/gpu_check.py runs the full-size
ones as `bench micro`): bytes counted, the host<->device curve and the PCIe link, launch, corruption."""

from __future__ import annotations

import pytest

from bench import config
from bench.config import TimingRules
from bench.measure.micro import CorruptionStep, run_micro_case
from bench.results.cases import Case
from bench.results.micro import MIB
from bench.results.records import Status

pytestmark = pytest.mark.cuda
SHORT = TimingRules(min_round_s=0.01, rounds=5, warmup_max_s=0.2)


def micro(model: str, size: int = 1) -> Case:
    return Case(model, "micro", "eager", "fp32", size, "cuda")


def test_device_copy_counts_stream_bytes():
    record = run_micro_case(micro("mem-copy", 256), SHORT)
    assert record.status is Status.OK and record.workload.items_per_step == 2 * 256 * MIB
    assert record.micro.cache_bytes  # the L2 it is compared with


@pytest.mark.parametrize("model", ["h2d-pinned", "h2d-pageable", "d2h-pinned", "d2h-pageable"])
def test_host_device_copies_have_a_curve_and_a_link(model):
    record = run_micro_case(micro(model, 16), SHORT)
    assert record.status is Status.OK
    assert [point.size_bytes for point in record.micro.curve] == [1 * MIB, 2 * MIB, 4 * MIB, 8 * MIB, 16 * MIB]
    assert all(point.gbps > 0 for point in record.micro.curve)
    link = record.micro.link
    assert link is None or (link.generation and link.width)


def test_launch_on_cuda():
    record = run_micro_case(micro("launch"), SHORT)
    assert record.status is Status.OK and record.items_per_s > 1e3  # below a millisecond per launch


def test_bit_flip_on_gpu_is_caught(monkeypatch):
    monkeypatch.setitem(config.MICRO_SDC_MATMUL_N, "cuda", 512)
    step = CorruptionStep(micro("sdc-matmul", 1), "cuda", flip_at=4)
    for _ in range(8):
        step()
    checks = step.checks(seconds=0.1)
    assert checks[0].device == "cuda:0" and checks[0].first_mismatch == 4 and checks[0].mismatches == 1
    assert all(check.mismatches == 0 for check in checks[1:])
    assert all(check.reference_error < check.reference_bound for check in checks)
