"""Data-parallel runs on the CPU: two gloo processes on 127.0.0.1 under torchrun."""

from __future__ import annotations

import json

import jsonschema
import pytest

from bench.distributed import Launch, bus_bandwidth, check_launch, root_cause
from tests.conftest import ROOT, load_schema, run_module

SCHEMA = load_schema(ROOT / "bench" / "report.schema.json")
TWO_RANKS = ["--nproc-per-node", "2", "--device", "cpu", "--suite", "smoke", "--models", "mlp",
             "--modes", "train", "--backends", "eager", "--precisions", "fp32", "--batch-sizes", "32"]


def test_bus_bandwidth_follows_nccl_tests():
    assert bus_bandwidth(10.0, 2) == pytest.approx(10.0)
    assert bus_bandwidth(10.0, 8) == pytest.approx(17.5)
    assert bus_bandwidth(10.0, 1) == 0.0


def test_launch_validation():
    assert check_launch(Launch(2)) == []
    assert Launch(2).torchrun_args()[-1] == "--standalone"
    multi = Launch(8, nnodes=2, node_rank=1, rdzv_endpoint="10.0.0.1:29500")
    assert check_launch(multi) == [] and "--rdzv-endpoint=10.0.0.1:29500" in multi.torchrun_args()
    errors = check_launch(Launch(0, nnodes=2, node_rank=3))
    assert any("--nproc-per-node must be >= 1" in e for e in errors)
    assert any("--node-rank must be in 0..1" in e for e in errors)
    assert any("needs --rdzv-endpoint" in e for e in errors)


def test_torchrun_root_cause_is_parsed():
    tail = "Root Cause (first observed failure):\n[0]:\n  rank      : 1 (local_rank: 1)\n  exitcode  : -6 (pid: 7)"
    assert root_cause(tail) == "rank 1 exited with code -6 (SIGABRT)"
    assert root_cause("nothing useful") == "torchrun failed (see its log)"


@pytest.mark.slow
def test_two_gloo_ranks_measure_a_train_case_and_allreduce(tmp_path):
    done = run_module("bench", "run", *TWO_RANKS, "--out", str(tmp_path), timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (path,) = tmp_path.glob("*/*.json")
    report = json.loads(path.read_text())
    jsonschema.validate(report, SCHEMA)
    (entry,) = report["benchmarks"]
    dist = entry["extra_info"]["distributed"]
    assert dist["world_size"] == 2 and dist["backend"] == "gloo"
    assert len(dist["per_rank_samples_per_s"]) == 2 and all(v > 0 for v in dist["per_rank_samples_per_s"])
    assert dist["global_samples_per_s"] == pytest.approx(sum(dist["per_rank_samples_per_s"]))
    assert dist["scaling_efficiency"] == pytest.approx(
        dist["global_samples_per_s"] / (2 * dist["single_process_samples_per_s"]))
    rows = report["torchrig"]["collectives"]["allreduce"]
    assert [row["bytes"] for row in rows][:2] == [1024, 4096]
    for row in rows:
        assert row["busbw_gbps"] == pytest.approx(row["algbw_gbps"])  # 2(n-1)/n = 1 for two ranks
        assert row["algbw_gbps"] == pytest.approx(row["bytes"] / row["time_s"] / 1e9)
    assert report["torchrig"]["run"]["distributed"]["nproc_per_node"] == 2


@pytest.mark.slow
def test_a_failing_rank_ends_the_run_and_is_recorded(tmp_path):
    from bench import __main__ as cli
    from bench.cases import Case

    # rank 1 raises in the first case; the single-process reference run ignores rank faults
    bad = Case("mlp", "train", "eager", "fp32", 32, "cpu", fault="rank1:raise")

    def faulty_expand(*args, **kwargs):
        return [bad, Case("mlp", "train", "eager", "fp32", 16, "cpu")]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "expand", faulty_expand)
        code = cli.main(["run", *TWO_RANKS, "--case-timeout", "60", "--out", str(tmp_path)])
    assert code == 1
    (path,) = tmp_path.glob("*/*.json")
    report = json.loads(path.read_text())
    unmeasured = {u["case"]["batch_size"]: u for u in report["torchrig"]["unmeasured"]}
    assert unmeasured[32]["status"] == "failed"
    assert unmeasured[32]["reason"] == "rank 1 failed: RuntimeError: injected failure"
    assert unmeasured[16]["reason"].startswith("not run: rank 1 failed earlier")
    assert report["torchrig"]["collectives"]["torchrun_exit"] not in (0, None)
    assert report["torchrig"]["collectives"]["torchrun_s"] < 120  # no hang on the collective


def test_bad_launch_options_are_exit_2(tmp_path):
    done = run_module("bench", "run", "--device", "cpu", "--nproc-per-node", "0", "--out", str(tmp_path))
    assert done.returncode == 2 and "--nproc-per-node must be >= 1" in done.stderr
    done = run_module("bench", "run", "--device", "cpu", "--nnodes", "2", "--out", str(tmp_path))
    assert done.returncode == 2 and "need --nproc-per-node" in done.stderr
