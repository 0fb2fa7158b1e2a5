"""Data-parallel runs on the CPU: two gloo processes on 127.0.0.1 under torchrun, a run each."""

from __future__ import annotations

import pytest

from bench.__main__ import main as bench
from bench.measure.rank import bus_bandwidth
from bench.results.records import Status
from bench.results.report import Report
from tests.conftest import FAST

TWO_RANKS = ["--nproc-per-node", "2", "--device", "cpu", "--models", "mlp", "--modes", "train", "--backends", "eager",
             "--precisions", "fp32", "--batch-sizes", "32", "--runs", "1", *FAST]


def test_bus_bandwidth_follows_nccl_tests():
    assert bus_bandwidth(10.0, 2) == pytest.approx(10.0)
    assert bus_bandwidth(10.0, 8) == pytest.approx(17.5)
    assert bus_bandwidth(10.0, 1) == 0.0


@pytest.mark.slow
def test_two_gloo_ranks_measure_a_train_case_and_a_failing_rank_is_recorded(tmp_path, monkeypatch, capsys):
    # the single-process references fail at once (they are not what is tested here); DDP bs16's rank 1 raises
    monkeypatch.setenv("TORCHRIG_FAULT", "mlp-train-eager-fp32-bs32-cpu=raise;mlp-train-eager-fp32-bs16-cpu=raise;"
                                         "mlp-train-eager-fp32-bs16-cpu-ddp2-gloo=rank1:raise")
    assert bench(["run", *TWO_RANKS, "--batch-sizes", "32,16", "--case-timeout", "120", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    report = Report.load(next(tmp_path.glob("*/*.json")))
    ddp = report.find("mlp-train-eager-fp32-bs32-cpu-ddp2-gloo")
    assert ddp.status is Status.OK, ddp.reason
    run = ddp.runs[0]
    assert len(run.rank_step_s) == 2 and run.threads == 1  # 2 cores / 2 ranks: the reference's cores, shared
    assert run.noise.cpu.other_cpu_cores < 0.5  # the other rank is part of the measurement, not noise
    assert ddp.items_per_s == pytest.approx(sum(32 / step for step in run.rank_step_s))
    assert [row["bytes"] for row in run.allreduce][:2] == [1024, 4096]
    for row in run.allreduce:
        assert row["busbw_gbps"] == pytest.approx(row["algbw_gbps"])  # 2(n-1)/n = 1 for two ranks
    failed = report.find("mlp-train-eager-fp32-bs16-cpu-ddp2-gloo")
    assert failed.status is Status.FAILED and failed.reason == "rank 1 failed: RuntimeError: injected failure"
    assert failed.runs[0].duration_s < 120  # no hang on the collective
    assert "data-parallel (DDP under torchrun)" in out
