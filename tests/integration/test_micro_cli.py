"""`bench micro` end to end on the CPU: fresh processes per run, torchrun ranks for the all-reduce, the report
and its schema, the database, the not-applicable cases, the injected bit flip, and bad input."""

from __future__ import annotations

import json

import jsonschema
import pytest

from bench.results.report import Report
from tests.conftest import ROOT, assert_usage_error, load_schema, run_module

SCHEMA = load_schema(ROOT / "bench" / "results" / "report.schema.json")
SMALL = ["--device", "cpu", "--runs", "2", "--micro",
         "mem-copy:4,mem-triad:4,launch,sdc-matmul:1,allreduce:1,h2d-pinned"]


def only_report(folder):
    (path,) = folder.glob("*/*.json")
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)
    return Report.load(path)


@pytest.mark.slow
def test_micro_on_the_cpu_measures_each_figure_and_records_it(tmp_path):
    db = tmp_path / "results.db"
    done = run_module("bench", "micro", *SMALL, "--out", str(tmp_path / "out"), "--db", str(db), timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "micro-benchmarks on" in done.stdout and "GB/s" in done.stdout
    made = only_report(tmp_path / "out")
    assert made.invocation.suite == "micro"
    cases = {record.key: record for record in made.cases}
    for key in ("micro-mem-copy-4MiB-cpu", "micro-mem-triad-4MiB-cpu", "micro-launch-cpu",
                "micro-sdc-matmul-1s-cpu", "micro-allreduce-1MiB-cpu-ddp2-gloo"):
        assert cases[key].status.value == "ok", (key, cases[key].reason)
        assert len(cases[key].ok_runs) == 2  # two fresh processes each
    assert cases["micro-mem-copy-4MiB-cpu"].workload.items_per_step == 2 * 4 * 2**20
    assert "not applicable on a CPU" in cases["micro-h2d-pinned-1024MiB-cpu"].reason
    reduce = cases["micro-allreduce-1MiB-cpu-ddp2-gloo"]
    assert reduce.workload.items_per_step == 2**20  # busbw bytes: 1 MiB x 2(2-1)/2
    sweep = reduce.runs[0].micro.curve
    assert sweep and all(point.gbps > 0 for point in sweep)
    checks = [check for run in cases["micro-sdc-matmul-1s-cpu"].runs for check in run.micro.corruption]
    assert len(checks) == 2 and all(check.mismatches == 0 and check.seconds >= 1 for check in checks)
    assert db.exists() and "recorded 1 report(s) in sqlite" in done.stdout
    assert "data-parallel (DDP" not in done.stdout  # the all-reduce micro case is no DDP case


@pytest.mark.slow
def test_a_bit_flip_breaks_the_run_and_names_the_iteration(tmp_path):
    done = run_module("bench", "micro", "--device", "cpu", "--runs", "1", "--micro", "sdc-matmul:1", "--no-db",
                      "--out", str(tmp_path), env={"TORCHRIG_FAULT": "micro-sdc-matmul-*=bitflip:2"}, timeout=300)
    assert done.returncode == 1, done.stdout[-3000:]
    (record,) = only_report(tmp_path).cases
    assert record.status.value == "failed"
    assert "silent data corruption on cpu: iteration 2 differs bitwise" in record.reason


@pytest.mark.slow
def test_bad_micro_names_are_one_line_usage_errors(tmp_path):
    done = run_module("bench", "micro", "--micro", "mem-copy,warp-drive", "--out", str(tmp_path), timeout=120)
    assert_usage_error(done, "unknown micro-benchmark 'warp-drive'")
    assert not list(tmp_path.iterdir())
