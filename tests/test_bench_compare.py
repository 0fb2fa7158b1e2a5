"""compare, summary, report and validate on synthetic reports with known answers."""

from __future__ import annotations

import json

import pytest

from bench.compare import MIN_SIGNIFICANT_CHANGE, compare_reports
from bench.merge import load_labelled, merged_rows, speedups
from bench.stats_test import mann_whitney_u
from bench.storage import write_report
from bench.validate import EXIT_BROKEN, EXIT_DEGRADED, EXIT_HEALTHY, decide
from envcheck import snapshot
from tests.conftest import assert_usage_error, run_module
from tests.reports import record, report


@pytest.fixture(scope="module")
def environment():
    return snapshot()


def test_mann_whitney_exact_and_approximate_p_values():
    # exact: complete separation of 5 vs 5 gives the smallest two-sided p, 2 / C(10, 5)
    assert mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == (0.0, pytest.approx(2 / 252))
    assert mann_whitney_u([1, 2, 3, 4, 5], [1.5, 2.5, 3.5, 4.5, 5.5])[1] == pytest.approx(0.6905, abs=1e-4)
    # ties: normal approximation with tie and continuity corrections (SciPy gives 0.0097)
    assert mann_whitney_u([1, 1, 1, 2, 2], [3, 3, 3, 4, 4])[1] == pytest.approx(0.0097, abs=2e-4)
    assert mann_whitney_u([1.0] * 5, [1.0] * 5)[1] == 1.0


def test_clear_regression_is_flagged(environment):
    base = report(environment, [record(0.010, jitter=0.01, seed=1)])
    new = report(environment, [record(0.012, jitter=0.01, seed=2)])  # 20 % slower per step
    (row,) = compare_reports(base, new).cases
    assert row.verdict == "slower"
    assert row.ratio == pytest.approx(1 / 1.2, rel=0.02)
    assert row.p_value < 0.01
    assert compare_reports(base, new).regressions(10.0) == [row]
    assert compare_reports(base, new).regressions(25.0) == []


def test_noise_is_not_flagged(environment):
    base = report(environment, [record(0.010, jitter=0.05, seed=1)])
    new = report(environment, [record(0.010, jitter=0.05, seed=2)])
    (row,) = compare_reports(base, new).cases
    assert row.verdict == "same"
    assert not row.significant


def test_a_consistent_change_under_one_percent_is_never_significant(environment):
    base = report(environment, [record(0.010, seed=1)])
    new = report(environment, [record(0.010 * (1 + MIN_SIGNIFICANT_CHANGE / 2), seed=2)])
    (row,) = compare_reports(base, new).cases
    assert row.p_value < 0.05  # the rounds do differ...
    assert row.verdict == "same"  # ...but by less than 1 %


def test_cases_on_one_side_and_unmeasured_cases(environment):
    base = report(environment, [record(0.01), record(0.01, precision="amp-bf16"), record(0.01, batch_size=8)])
    new = report(environment, [record(0.01), record(0.01, precision="amp-bf16", status="oom"),
                               record(0.01, backend="compile")])
    comparison = compare_reports(base, new)
    assert comparison.only_base == ["cnn-train-eager-fp32-bs8-cpu"]
    assert comparison.only_new == ["cnn-train-compile-fp32-bs64-cpu"]
    verdicts = {row.label: row.verdict for row in comparison.cases}
    assert verdicts["cnn-train-eager-amp-bf16-bs64-cpu"] == "not comparable (ok -> oom)"


def test_environment_differences_are_listed(environment):
    base = report(environment, [record(0.01)])
    new = report(environment, [record(0.01)], torch__version="2.99.0", cpu__model="Other CPU")
    diffs = {label: (b, n) for label, b, n in compare_reports(base, new).environment_differences}
    assert diffs["torch"][1] == "2.99.0"
    assert diffs["CPU"][1] == "Other CPU"
    assert "GPU" not in diffs
    assert compare_reports(base, base).environment_differences == []


@pytest.fixture
def regression_files(environment, tmp_path):
    base = write_report(report(environment, [record(0.010, jitter=0.01, seed=1), record(0.02, batch_size=8)]),
                        tmp_path / "base.json")
    new = write_report(report(environment, [record(0.013, jitter=0.01, seed=2)], torch__version="2.99.0"),
                       tmp_path / "new.json")
    return base, new


def test_compare_cli_gate_and_output(regression_files):
    base, new = regression_files
    done = run_module("bench", "compare", str(base), str(new), "--fail-above", "5")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Environments differ" in done.stdout and "2.99.0" in done.stdout
    assert "slower" in done.stdout and "only in base: cnn-train-eager-fp32-bs8-cpu" in done.stdout
    assert "compare: FAIL: 1 significant regression(s) beyond 5%" in done.stdout
    assert run_module("bench", "compare", str(base), str(new), "--fail-above", "50").returncode == 0
    assert run_module("bench", "compare", str(base), str(new)).returncode == 0  # no gate asked for


@pytest.mark.parametrize(
    ("content", "message"),
    [("{}", "not a torchrig bench report"),
     ('{"schema_version": 2, "torchrig": {"tool": "torchrig.bench"}}', "schema_version 2 is not supported")],
)
def test_compare_refuses_foreign_files_with_exit_2(regression_files, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    before = regression_files[0].read_bytes()
    done = run_module("bench", "compare", str(regression_files[0]), str(bad))
    assert_usage_error(done, message)
    assert regression_files[0].read_bytes() == before  # nothing on disk touched


def test_merged_rows_and_speedups(environment, tmp_path):
    first = write_report(report(environment, [record(0.010), record(0.005, backend="compile"),
                                              record(0.004, precision="amp-bf16")], label="env-a"),
                         tmp_path / "a.json")
    second = write_report(report(environment, [record(0.020), record(0.01, backend="compile", status="crashed")],
                                 label="env-b"), tmp_path / "b.json")
    labelled = load_labelled([first, second])
    assert [item.label for item in labelled] == ["env-a", "env-b"]
    rows = {row.case: row for row in merged_rows(labelled)}
    assert rows["cnn-train-eager-fp32-bs64-cpu"].ratio(1) == pytest.approx(0.5, rel=0.01)
    assert rows["cnn-train-compile-fp32-bs64-cpu"].cells[1]["status"] == "crashed"
    assert rows["cnn-train-eager-amp-bf16-bs64-cpu"].cells[1] is None
    gains = speedups(labelled[0].report)
    assert gains["compile vs eager"]["cnn-train-compile/eager-fp32-bs64-cpu"] == pytest.approx(2.0, rel=0.01)
    assert gains["amp-bf16 vs fp32"]["cnn-train-eager-amp-bf16/fp32-bs64-cpu"] == pytest.approx(2.5, rel=0.01)


def test_report_writes_markdown_html_and_valid_pngs(environment, tmp_path):
    files = [write_report(report(environment, [record(0.01), record(0.005, backend="compile")], label=name),
                          tmp_path / f"{name}.json") for name in ("machine-a", "machine-b")]
    out = tmp_path / "out"
    done = run_module("bench", "report", *map(str, files), "--out", str(out))
    assert done.returncode == 0, done.stderr
    for name in ("throughput.png", "speedups.png", "mfu.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    summary = (out / "summary.md").read_text()
    assert "| cnn-train-eager-fp32-bs64-cpu |" in summary and "machine-b / machine-a" in summary
    assert "<img src='throughput.png'" in (out / "index.html").read_text()


def test_summary_command_prints_cases_by_environment(environment, tmp_path):
    files = [write_report(report(environment, [record(step)], label=name), tmp_path / f"{name}.json")
             for name, step in (("torch-a", 0.01), ("torch-b", 0.005))]
    done = run_module("bench", "summary", *map(str, files))
    assert done.returncode == 0
    assert "torch-a" in done.stdout and "torch-b" in done.stdout and "(2.00x)" in done.stdout


def test_validate_verdicts(environment):
    base = report(environment, [record(0.010, jitter=0.01, seed=1)])
    slower = compare_reports(base, report(environment, [record(0.013, jitter=0.01, seed=2)]))
    same = compare_reports(base, report(environment, [record(0.010, jitter=0.01, seed=3)]))
    healthy = decide([], [], same, 10.0, "b.json", "cp x b.json")
    assert (healthy.name, healthy.exit_code) == ("healthy", EXIT_HEALTHY)
    degraded = decide([], [], slower, 10.0, "b.json", "cp x b.json")
    assert (degraded.name, degraded.exit_code) == ("degraded", EXIT_DEGRADED)
    assert "cnn-train-eager-fp32-bs64-cpu -23" in degraded.line
    broken = decide(["gpu0 ECC"], ["cnn-train-compile-fp32-bs64-cpu"], same, 10.0, "b.json", "")
    assert (broken.name, broken.exit_code) == ("broken", EXIT_BROKEN)
    assert "envcheck FAIL: gpu0 ECC" in broken.line and "cnn-train-compile" in broken.line
    missing = decide([], [], None, 10.0, "results/baselines/x.json", "cp r.json results/baselines/x.json")
    assert missing.exit_code == EXIT_HEALTHY and "WARN: no baseline" in missing.line
    assert "cp r.json results/baselines/x.json" in missing.line


def test_report_json_is_plain_json(environment):
    json.dumps(report(environment, [record(0.01)]), allow_nan=False)


@pytest.mark.slow
def test_validate_end_to_end_reports_degraded_against_a_faster_baseline(environment, tmp_path):
    from bench import config
    from bench.cases import expand

    smoke = expand(config.SUITE_DEFS["smoke"], "cpu")
    fields = [{k: v for k, v in c.identity().items() if k not in ("channels_last", "data")} for c in smoke]
    baseline = write_report(report(environment, [record(1e-6, jitter=0.01, seed=i, **f)
                                                 for i, f in enumerate(fields)]), tmp_path / "baseline.json")
    done = run_module("bench", "validate", "--suite", "smoke", "--device", "cpu", "--baseline", str(baseline),
                      "--out", str(tmp_path / "results"))
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr
    verdict = done.stdout.strip().splitlines()[-1]
    assert verdict.startswith(f"validate: degraded: {len(smoke)} case(s) significantly slower than {baseline}")
    assert len(list((tmp_path / "results").glob("*/*.json"))) == 1


def test_validate_refuses_a_missing_baseline_file(tmp_path):
    done = run_module("bench", "validate", "--baseline", str(tmp_path / "none.json"))
    assert done.returncode == 2 and "no such file" in done.stderr
