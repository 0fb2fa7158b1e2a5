"""compare's exit codes end to end on synthetic reports: 0 decided, 1 slower, 4 undecided (rule 14)."""

from __future__ import annotations

import pytest

from bench.__main__ import main as bench
from tests.reports import record, report

TIGHT = [0.010, 0.0101, 0.0099, 0.01005, 0.00995]
WIDE = [0.010, 0.014, 0.008, 0.012, 0.009]


def write(tmp_path, name, steps, started="2026-11-30T00:00:00+00:00"):
    made = report([record(steps), record(steps, batch_size=8)], label=name)  # two runs, not one file twice
    made.invocation.started = started
    return str(made.dump(tmp_path / f"{name}.json"))


def compare(tmp_path, capsys, base, new, *flags):
    code = bench(["compare", base, new, "--baselines", str(tmp_path / "no-baselines"), *flags])
    return code, capsys.readouterr().out


def test_decided_and_none_slower_exits_0(tmp_path, capsys):
    code, out = compare(tmp_path, capsys, write(tmp_path, "a", TIGHT), write(tmp_path, "b", TIGHT),
                        "--fail-above", "10")
    assert code == 0 and "compare: OK: all 2 cases decided" in out


def test_a_slower_case_exits_1(tmp_path, capsys):
    code, out = compare(tmp_path, capsys, write(tmp_path, "a", TIGHT), write(tmp_path, "b", [s * 1.5 for s in TIGHT]),
                        "--fail-above", "10")
    assert code == 1 and "compare: FAIL: 2 of 2 case(s) slower than 0.9x" in out


def test_undecided_exits_4_unless_allowed(tmp_path, capsys):
    base, new = write(tmp_path, "a", WIDE), write(tmp_path, "b", WIDE)
    code, out = compare(tmp_path, capsys, base, new, "--fail-above", "10")
    assert code == 4 and "compare: UNDECIDED: 0 of 2 cases decided" in out and "tells" in out
    code, out = compare(tmp_path, capsys, base, new, "--fail-above", "10", "--allow-undecided")
    assert code == 0 and "(allowed)" in out


def test_separate_invocations_without_known_drift_refuse_to_decide(tmp_path, capsys):
    base = write(tmp_path, "a", TIGHT)
    slower = write(tmp_path, "b", [s * 1.5 for s in TIGHT], started="2026-11-30T05:00:00+00:00")
    code, out = compare(tmp_path, capsys, base, slower, "--fail-above", "10")
    assert code == 4 and "--setup a=PYTHON --setup b=PYTHON" in out and "validate --record" in out
    assert "FAIL" not in out  # never a false FAIL, never a silent pass


@pytest.mark.parametrize("flag", [["--fail-above", "100"], ["--fail-above", "-1"]])
def test_bad_thresholds_are_usage_errors(tmp_path, capsys, flag):
    base = write(tmp_path, "a", TIGHT)
    with pytest.raises(SystemExit) as stop:
        bench(["compare", base, base, *flag])
    assert stop.value.code == 2


def test_a_case_broken_in_the_new_report_is_a_failure_and_a_missing_one_undecided(tmp_path, capsys):
    from bench.results.records import Status

    started = "2026-11-30T00:00:00+00:00"
    base = report([record(TIGHT), record(TIGHT, batch_size=8)], label="base", started=started)
    crashed = report([record(TIGHT), record(TIGHT, batch_size=8, status=Status.CRASHED)], label="crashed",
                     started=started)
    partial = report([record(TIGHT)], label="partial", started=started)  # an interrupted run: one case of two
    paths = [str(made.dump(tmp_path / f"{made.invocation.label}.json")) for made in (base, crashed, partial)]
    code, out = compare(tmp_path, capsys, paths[0], paths[1], "--fail-above", "10", "--allow-undecided")
    assert code == 1 and "broken in the new: cnn-train-eager-fp32-bs8-cpu" in out  # not "not comparable"
    code, out = compare(tmp_path, capsys, paths[0], paths[2], "--fail-above", "10")
    assert code == 4 and "1 case(s) of the base are missing from the new report" in out
