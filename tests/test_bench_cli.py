"""`python -m bench run` and `pytest bench` end to end on the CPU."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import jsonschema
import pytest

from tests.conftest import ROOT, assert_usage_error, load_schema, run_module

SCHEMA = load_schema(ROOT / "bench" / "report.schema.json")


def reports_in(directory):
    return sorted(directory.glob("*/*.json"))


@pytest.mark.slow
def test_smoke_suite_writes_a_valid_report_covering_the_axes(tmp_path):
    done = run_module("bench", "run", "--suite", "smoke", "--device", "cpu", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = reports_in(tmp_path)
    report = json.loads(path.read_text())
    jsonschema.validate(report, SCHEMA)
    records = [entry["extra_info"] for entry in report["benchmarks"]]
    cases = [record["case"] for record in records]
    assert {c["mode"] for c in cases} == {"train", "finetune"}
    assert {c["backend"] for c in cases} == {"eager", "compile"}
    assert {c["precision"] for c in cases} == {"fp32", "amp-bf16"}
    for record in records:
        assert math.isfinite(record["loss_end"]) and record["loss_end"] < record["loss_start"]
        assert record["samples_per_s"] > 0 and record["steps_per_round"] >= 1
        assert (record["compile_s"] is not None) == (record["case"]["backend"] != "eager")
    assert report["torchrig"]["unmeasured"] == []
    assert set(report["torchrig"]["ceilings"]["tflops"]) == {"fp32", "amp-bf16"}
    assert report["machine_info"]["torchrig"]["device"] == "cpu"
    assert path.parent.name == report["machine_info"]["torchrig"]["machine_id"]
    assert f"report: {path}" in done.stdout
    assert done.stdout.count("] mlp-") + done.stdout.count("] cnn-") == len(cases)  # a progress line per case


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "resnet"], "unknown model 'resnet' (expected one of mlp, cnn, mlp-large)"),
        (["--backends", "jit"], "unknown backend 'jit'"),
        (["--precisions", "fp8"], "unknown precision 'fp8'"),
        (["--batch-sizes", "0"], "batch size must be > 0, got 0"),
        (["--batch-sizes", "x"], "--batch-sizes expects comma-separated integers"),
        (["--suite", "huge"], "invalid choice: 'huge'"),
        (["--rounds", "2"], "--rounds must be at least 5"),
        (["--checkpoint", "/nonexistent.pt"], "--checkpoint /nonexistent.pt: no such file"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    done = run_module("bench", "run", "--device", "cpu", "--out", str(tmp_path), *args)
    assert_usage_error(done, message)
    assert not reports_in(tmp_path)


def test_cuda_requested_without_cuda_is_exit_2(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = run_module("bench", "run", "--device", "cuda", "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("python -m bench: error: --device cuda, but no CUDA device")


def test_list_prints_the_cases():
    done = run_module("bench", "run", "--suite", "smoke", "--device", "cpu", "--list")
    assert done.returncode == 0
    assert "cnn-train-eager-fp32-bs64-cpu" in done.stdout.splitlines()


@pytest.mark.slow
def test_ctrl_c_leaves_a_valid_report_of_the_finished_cases(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--device", "cpu", "--models", "mlp", "--backends", "eager",
         "--modes", "train", "--batch-sizes", "8,16,32,64", "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen = []
    deadline = time.monotonic() + 300
    for line in process.stdout:
        seen.append(line)
        if "] mlp-train-eager-fp32-bs16-cpu" in line and " ok " in line:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
            break
        assert time.monotonic() < deadline
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 130, "".join(seen) + out
    (path,) = reports_in(tmp_path)
    report = json.loads(path.read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["torchrig"]["run"]["interrupted"] is True
    finished = report["torchrig"]["run"]["cases_finished"]
    assert 2 <= finished < report["torchrig"]["run"]["cases_planned"]
    assert len(report["benchmarks"]) == finished


@pytest.mark.slow
def test_pytest_benchmark_front_end_writes_the_same_report_layout(tmp_path):
    out = tmp_path / "pytest.json"
    done = run_module("pytest", "bench", "--bench-suite", "smoke", "--bench-device", "cpu",
                      "-k", "mlp-finetune-eager-amp-bf16 or mlp-train-eager-fp32", f"--benchmark-json={out}",
                      "-p", "no:cacheprovider", "-q")
    assert done.returncode == 0, done.stdout[-3000:]
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    names = sorted(entry["name"] for entry in report["benchmarks"])
    assert names == ["test_case[mlp-finetune-eager-amp-bf16-bs64-cpu]", "test_case[mlp-train-eager-fp32-bs64-cpu]"]
    for entry in report["benchmarks"]:
        steps = entry["extra_info"]["steps_per_round"]
        assert entry["stats"]["iterations"] == steps
        assert entry["extra_info"]["round_s"] == pytest.approx([t * steps for t in entry["stats"]["data"]])
