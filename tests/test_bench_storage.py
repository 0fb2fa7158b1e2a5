"""Reports: pytest-benchmark layout, derived metrics, versioning, never overwritten."""

from __future__ import annotations

import subprocess
import sys

import jsonschema
import pytest

from bench.cases import Case
from bench.config import TimingRules
from bench.result import CaseResult
from bench.storage import ReportError, build_report, derived_metrics, load_report, write_report
from bench.summary import break_even_steps, summary_rows
from envcheck import snapshot
from tests.conftest import ROOT, load_schema

SCHEMA = load_schema(ROOT / "bench" / "report.schema.json")
RULES = TimingRules()


def ok_result(backend="eager", precision="fp32", step_s=0.002, compile_s=None, **case_fields) -> CaseResult:
    case = Case(**{"model": "cnn", "mode": "train", "backend": backend, "precision": precision,
                   "batch_size": 64, "device": "cpu", **case_fields})
    return CaseResult(case, "ok", steps_per_round=50, round_s=[step_s * 50] * 5, flops_per_step=10**10,
                      compile_s=compile_s, peak_memory_bytes=2**30, memory_kind="rss", loss_start=2.3,
                      loss_end=1.1, params_trainable=10, params_total=10, duration_s=3.0)


@pytest.fixture(scope="module")
def environment():
    return snapshot()


def make_report(environment, results, ceilings=None):
    return build_report(results, environment=environment, device="cpu",
                        run={"suite": "smoke", "device": "cpu", "argv": [], "cases_planned": len(results),
                             "cases_finished": len(results), "interrupted": False, "wall_s": 1.0},
                        ceilings=ceilings or {"fp32": 0.5, "amp-bf16": 1.0}, rules=RULES)


def test_derived_metrics_from_known_rounds():
    metrics = derived_metrics(ok_result(step_s=0.002), {"fp32": 10.0}, RULES)
    assert metrics["samples_per_s"] == pytest.approx(32_000)
    assert metrics["step_s_median"] == pytest.approx(0.002)
    assert metrics["tflops"] == pytest.approx(5.0)  # 1e10 FLOP / 2 ms
    assert metrics["mfu"] == pytest.approx(0.5)
    assert metrics["unstable"] is False


def test_report_layout_is_pytest_benchmark_json_plus_torchrig(environment):
    failed = CaseResult(Case("cnn", "train", "compile", "fp32", 64, "cpu"), "failed", "InductorError: boom")
    report = make_report(environment, [ok_result(), failed])
    jsonschema.validate(report, SCHEMA)
    (entry,) = report["benchmarks"]
    assert entry["name"] == "test_case[cnn-train-eager-fp32-bs64-cpu]"
    assert entry["stats"]["iterations"] == 50
    assert entry["stats"]["data"] == pytest.approx([0.002] * 5)  # per step, not per round
    assert entry["extra_info"]["round_s"] == pytest.approx([0.1] * 5)  # raw rounds kept
    (unmeasured,) = report["torchrig"]["unmeasured"]
    assert unmeasured["status"] == "failed" and unmeasured["reason"] == "InductorError: boom"
    assert report["torchrig"]["environment"]["facts"]["torch"]["version"]


def test_pytest_benchmark_compare_reads_our_reports(environment, tmp_path):
    base = write_report(make_report(environment, [ok_result(step_s=0.002)]), tmp_path / "base.json")
    new = write_report(make_report(environment, [ok_result(step_s=0.001)]), tmp_path / "new.json")
    done = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(base), str(new)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Failed to load" not in done.stderr
    assert done.stdout.count("test_case[cnn-train-eager-fp32-bs64-cpu]") == 2


def test_reports_are_never_overwritten(environment, tmp_path):
    report = make_report(environment, [ok_result()])
    first = write_report(report, tmp_path / "r.json")
    second = write_report(report, tmp_path / "r.json")
    assert first != second and first.exists() and second.exists()
    assert second.name == "r-1.json"
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind
    assert load_report(first)["benchmarks"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"benchmarks": []}', "not a torchrig bench report"),
        ('[1, 2]', "not a torchrig bench report"),
        ('{"schema_version": 99, "torchrig": {"tool": "torchrig.bench"}}', "schema_version 99 is not supported"),
    ],
)
def test_foreign_files_and_unknown_versions_are_refused(tmp_path, content, message):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ReportError, match=message):
        load_report(path)


def test_missing_report_is_a_report_error(tmp_path):
    with pytest.raises(ReportError, match="no such file"):
        load_report(tmp_path / "missing.json")


def test_break_even_steps():
    assert break_even_steps(10.0, 0.003, 0.002) == 10_000
    assert break_even_steps(10.0, 0.002, 0.002) == "never"
    assert break_even_steps(10.0, 0.002, 0.003) == "never"
    assert break_even_steps(None, 0.002, 0.001) is None


def test_summary_speedups_against_eager_fp32(environment):
    report = make_report(environment, [
        ok_result(step_s=0.004),
        ok_result(backend="compile", step_s=0.002, compile_s=20.0),
        ok_result(precision="amp-bf16", step_s=0.001),
    ])
    rows = {row.case: row for row in summary_rows(report)}
    assert rows["train eager fp32 bs64"].speedup == pytest.approx(1.0)
    assert rows["train compile fp32 bs64"].speedup == pytest.approx(2.0)
    assert rows["train compile fp32 bs64"].break_even == 10_000  # 20 s / (4 ms - 2 ms)
    assert rows["train eager amp-bf16 bs64"].speedup == pytest.approx(4.0)
    assert rows["train eager amp-bf16 bs64"].break_even is None


def test_reasons_with_brackets_are_printed_as_text(environment):
    from io import StringIO

    from rich.console import Console

    from bench.summary import render_summary

    reason = "RuntimeError: [/__w/pytorch/third_party/gloo/pair.cc:545] Read error [127.0.0.1]:2955"
    failed = CaseResult(Case("cnn", "train", "compile", "fp32", 64, "cpu"), "failed", reason)
    out = StringIO()
    render_summary(make_report(environment, [ok_result(), failed]), Console(file=out, width=300))
    assert "[/__w/pytorch/third_party/gloo/pair.cc:545]" in out.getvalue()
