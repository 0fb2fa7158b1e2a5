"""`python -m bench run` end to end on the CPU: fresh workers, replicated runs, interleaved setups."""

from __future__ import annotations

import json
import sys

import jsonschema
import pytest

from bench.__main__ import main as bench
from bench.results.report import Report
from tests.conftest import FAST, ROOT, load_schema, run_module

SCHEMA = load_schema(ROOT / "bench" / "results" / "report.schema.json")
MLP = ["--device", "cpu", "--models", "mlp", "--backends", "eager", "--precisions", "fp32", "--batch-sizes", "8",
       *FAST]


def reports_in(directory):
    return sorted(directory.glob("*/*.json"))


def test_a_run_measures_each_case_in_fresh_processes(tmp_path, capsys):
    assert bench(["run", *MLP, "--modes", "train", "--runs", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    (path,) = reports_in(tmp_path)
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)
    report = Report.load(path)
    (train,) = report.cases
    assert train.key == "mlp-train-eager-fp32-bs8-cpu" and [run.index for run in train.runs] == [0, 1]
    first, second = train.runs
    assert first.workload.flops_per_step > 0 and second.workload.flops_per_step is None  # once per case
    assert all(run.noise.cpu is not None and run.memory_kind == "rss-peak" for run in train.runs)
    assert all(run.duration_s > run.warmup.seconds for run in train.runs)  # the process's whole wall time
    start, end = train.loss()
    assert end < start and train.items_per_s > 0 and train.run_spread is not None
    assert report.ceilings.source == "given" and report.invocation.runs == 2
    assert f"report: {path}" in out and "step ±run spread (runs)" in out
    assert not list(tmp_path.glob("*.journal"))  # removed once the report is written


def test_interleaved_setups_write_a_report_each_and_one_merged_table(tmp_path, capsys):
    argv = ["run", *MLP, "--modes", "infer,train", "--runs", "1", "--setup", f"two={sys.executable}",
            "--setup", f"one={sys.executable},OMP_NUM_THREADS=1", "--out", str(tmp_path)]
    with pytest.MonkeyPatch.context() as patch:  # the runs fail at once: their order and environment matter here
        patch.setenv("TORCHRIG_FAULT", "mlp-*=raise")
        assert bench(argv) == 1
    out = capsys.readouterr().out
    reports = {report.invocation.label: report for report in map(Report.load, reports_in(tmp_path))}
    assert set(reports) == {"one", "two"}
    assert reports["one"].invocation.setup.env == {"OMP_NUM_THREADS": "1"}
    assert reports["one"].environment.facts.env["OMP_NUM_THREADS"] == "1"  # its own snapshot, its own interpreter
    assert "OMP_NUM_THREADS" not in reports["two"].environment.facts.env
    order = [line.split("] ")[1].split(":")[0] for line in out.splitlines() if line.startswith("[")]
    assert order == ["two", "one", "one", "two"]  # A B, then B A: drift lands on both
    assert "throughput per report (ratio to the first [the bounds its verdict used]" in out


def test_list_prints_the_cases_and_why_some_are_skipped(capsys):
    assert bench(["run", "--suite", "smoke", "--device", "cpu", "--list", "--precisions", "tf32,fp32",
                  "--models", "mlp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "mlp-train-eager-fp32-bs64-cpu" in lines
    assert any(line.startswith("mlp-train-eager-tf32-bs64-cpu  (skipped: TF32 is a CUDA") for line in lines)


def test_pytest_benchmark_front_end_writes_a_report_the_model_reads(tmp_path):
    out = tmp_path / "pytest.json"
    done = run_module("pytest", "bench", "--bench-suite", "smoke", "--bench-device", "cpu",
                      "-k", "mlp-train-eager-fp32", f"--benchmark-json={out}", "-p", "no:cacheprovider", "-q",
                      "--bench-ceilings", "fp32=0.3,amp-bf16=1.0")
    assert done.returncode == 0, done.stdout[-3000:]
    report = Report.load(out)
    (measured,) = report.ok_cases()
    assert measured.key == "mlp-train-eager-fp32-bs64-cpu" and measured.items_per_s > 0
    data = json.loads(out.read_text())
    assert data["benchmarks"][0]["stats"]["iterations"] == measured.runs[0].steps_per_round


def test_until_decided_adds_interleaved_pairs_to_undecided_cases(tmp_path, capsys):
    """Two identical setups cannot be called the same within 0.5 % from two runs: pairs are added, journaled
    with indices after the planned ones, A B / B A, until the (small) budget is spent."""
    argv = ["run", *MLP, "--modes", "train", "--runs", "2", "--until-decided", "--budget", "0.1", "--fail-above", "0.5",
            "--setup", f"a={sys.executable}", "--setup", f"b={sys.executable}", "--out", str(tmp_path)]
    assert bench(argv) == 0
    out = capsys.readouterr().out
    reports = {report.invocation.label: report for report in map(Report.load, reports_in(tmp_path))}
    a, b = reports["a"].cases[0], reports["b"].cases[0]
    indices = [run.index for run in a.runs]
    assert indices == [run.index for run in b.runs] == list(range(len(indices))) and len(indices) > 2
    assert reports["a"].invocation.sequential.planned_runs == 2 and reports["a"].invocation.runs == 2
    assert "until decided: 0 of 1 cases decided after the planned runs" in out
    assert "cases decided" in out  # the merged table says how many
    order = [line.split("] ")[1].split(":")[0] for line in out.splitlines() if line.startswith("[")]
    assert order[4:6] == ["a", "b"]  # the first added pair (index 2) in A B order
    assert not list(tmp_path.glob("*.journal"))


def test_until_decided_needs_two_setups(tmp_path):
    with pytest.raises(SystemExit) as stop:
        bench(["run", *MLP, "--until-decided", "--out", str(tmp_path)])
    assert stop.value.code == 2
