"""The command lines in this process: bad input is one line and exit 2, never a traceback, nothing lost."""

from __future__ import annotations

import json

import pytest

from bench.__main__ import main as bench
from bench.results.records import Status
from envcheck.__main__ import main as envcheck
from tests.conftest import usage_error
from tests.reports import record, report

QUICK = [0.010, 0.0102, 0.0098, 0.0101, 0.0099]


@pytest.fixture
def files(tmp_path):
    base = report([record(QUICK), record(QUICK, batch_size=8)]).dump(tmp_path / "base.json")
    slower = report([record([s * 1.5 for s in QUICK])], env={"OMP_NUM_THREADS": "1"}).dump(tmp_path / "new.json")
    other = report([record(QUICK, model="mlp")]).dump(tmp_path / "other.json")
    return base, slower, other


def test_compare_gate_and_output(files, capsys):
    base, slower, _ = files
    assert bench(["compare", str(base), str(slower), "--fail-above", "5"]) == 1
    out = capsys.readouterr().out
    assert "$OMP_NUM_THREADS: None -> 1" in out and "slower" in out
    assert "compare: FAIL: 1 of 1 case(s) slower than 0.95x" in out
    # 1.5x slower is within 50 %, but the base's second case is missing from the new report: undecided
    assert bench(["compare", str(base), str(slower), "--fail-above", "50"]) == 4
    assert "1 case(s) of the base are missing from the new report" in capsys.readouterr().out
    assert "is the same report as" in usage_error(bench, ["compare", str(base), str(base)], capsys)  # issue 21


@pytest.mark.parametrize(("argv", "message"), [
    (["--fail-above", "nan"], "argument --fail-above: expected a finite number, got 'nan'"),
    (["--fail-above", "inf"], "expected a finite number"),
    (["--fail-above", "-1"], "--fail-above must be a percentage in [0, 100)"),
    (["--alpha", "2"], "--alpha must be between 0 and 1"),
])
def test_compare_refuses_bad_numbers(files, capsys, argv, message):
    base, slower, _ = files
    assert message in usage_error(bench, ["compare", str(base), str(slower), *argv], capsys)


def test_reports_with_no_case_in_common_are_refused_not_passed(files, capsys):
    base, _, other = files
    line = usage_error(bench, ["compare", str(base), str(other), "--fail-above", "5"], capsys)
    assert "share no case; nothing to compare" in line


@pytest.mark.parametrize("verb", [["compare", "{good}", "{bad}"], ["summary", "{bad}"],
                                  ["report", "{bad}", "--out", "{out}"], ["validate", "--baseline", "{bad}"]])
@pytest.mark.parametrize(("content", "message"), [
    ('{"schema_version": 2}', "not a torchrig bench report"),
    ('{"schema_version": 3, "torchrig": {"tool": "torchrig.bench"}}', "missing field"),
    ("[" * 30_000, "nested too deeply"),
])
def test_malformed_reports_exit_2_naming_the_file(files, tmp_path, capsys, verb, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    argv = [part.format(good=files[0], bad=bad, out=tmp_path / "out") for part in verb]
    if argv[0] == "validate":
        argv += ["--device", "cpu", "--out", str(tmp_path / "results")]
    line = usage_error(bench, argv, capsys)
    assert str(bad) in line and message in line
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


def test_summary_of_one_and_many(files, capsys):
    base, slower, _ = files
    assert bench(["summary", str(base)]) == 0
    assert "cnn on cpu-intel" in capsys.readouterr().out
    assert bench(["summary", str(base), str(slower)]) == 0
    assert "0.67x" in capsys.readouterr().out


def test_envcheck_json_never_replaces_another_tools_file(files, tmp_path, capsys):
    base = files[0]
    before = base.read_bytes()
    line = usage_error(envcheck, ["--quick", "--json", str(base)], capsys)
    assert "exists and is not an envcheck JSON report (it is a torchrig.bench file)" in line
    assert base.read_bytes() == before
    blocker = tmp_path / "plain"
    blocker.write_text("x")
    assert "is a file, not a folder" in usage_error(envcheck, ["--json", str(blocker / "env.json")], capsys)


def test_empty_lists_and_bad_numbers_in_run_are_usage_errors(tmp_path, capsys):
    for argv, message in ((["--models", ",,"], "--models is empty"), (["--batch-sizes", ""], "--batch-sizes is empty"),
                          (["--case-timeout", "nan"], "expected a finite number"),
                          (["--nproc-per-node", "2", "--rdzv-endpoint", "h:99999999"], "a port in 1..65535"),
                          (["--nnodes", "2"], "--nnodes and --rdzv-endpoint need --nproc-per-node")):
        assert message in usage_error(bench, ["run", "--out", str(tmp_path), *argv], capsys)
    assert "unknown recipe ''" in usage_error(bench, ["tta", "--recipes", "", "--out", str(tmp_path)], capsys)
    assert not list(tmp_path.rglob("*.json"))


def test_validate_with_cuda_on_a_cpu_machine_says_so_before_envcheck(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    line = usage_error(bench, ["validate", "--device", "cuda", "--out", str(tmp_path)], capsys)
    assert line.startswith("python -m bench: error: --device cuda, but no CUDA device")


def test_report_json_is_strict(files):
    json.loads(files[0].read_text(), parse_constant=lambda name: pytest.fail(f"{name} in a report"))
    assert Status.OK.value == "ok"


def test_until_decided_judges_every_setup_against_the_first():
    """The matrix has three environments: each later one is compared with the first, as its table shows."""
    from bench.run.execute import setups_judge
    from bench.run.request import InvocationRequest
    from tests.reports import record, report

    reports = [report([record([0.01, 0.011, 0.0105])], label=name) for name in ("a", "b", "c")]
    comparisons = setups_judge(InvocationRequest(fail_above=10))(reports)
    assert [(c.base_name, c.new_name) for c in comparisons] == [("base", "new"), ("base", "new")]
    assert len(comparisons) == 2 and all(len(c.cases) == 1 for c in comparisons)
