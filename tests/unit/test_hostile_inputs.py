"""Hostile inputs (issue 21): a journal, report or label from someone else never deletes, overwrites,
injects or crashes. Each test feeds the input of the issue and checks what must hold: the victim's files
unchanged, exit code 2 and one line, no control character in any output."""

from __future__ import annotations

import json
import os

import pytest

from bench.__main__ import main as bench
from bench.cases import Case
from bench.journal import Entry, Journal
from bench.plan import Plan, SetupPlan
from bench.report import Ceilings, Setup
from bench.request import RunRequest
from tests.reports import ENVIRONMENT, run

CASE = Case("mlp", "infer", "eager", "fp32", 1, "cpu")


def usage_error(capsys, argv: list[str]) -> str:
    """The one line of a refused command (exit 2, no traceback)."""
    with pytest.raises(SystemExit) as stopped:
        bench(argv)
    out, err = capsys.readouterr()
    assert stopped.value.code == 2, out + err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def make_plan(tmp_path, work_dir, *, runs: int = 1, run_id: str = "r1", cases=(CASE,)) -> Plan:
    setup = SetupPlan(Setup("", "/usr/bin/python3"), ENVIRONMENT, "cpu", Ceilings("cpu", {"fp32": 1.0}), {}, [])
    request = RunRequest(device="cpu", runs=runs, out=tmp_path / "out", ceilings=(("fp32", 1.0),))
    return Plan(request, list(cases), [setup], str(work_dir), "2026-01-01T00:00:00+00:00", run_id)


def journal_of(tmp_path, plan: Plan, entries=(), name="run.journal"):
    journal = Journal.create(tmp_path / name, plan)
    for entry in entries:
        journal.append(entry)
    return journal.path


def complete_entries(plan: Plan) -> list[Entry]:
    return [Entry("", case.key, run(0.01, index)) for setup, case, index in plan.slots()]


def snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- 1: --resume removes only its own work folder

def test_1_resume_refuses_a_work_dir_that_is_not_the_runs_and_removes_nothing(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("x")
    plan = make_plan(tmp_path, victim)
    path = journal_of(tmp_path, plan, complete_entries(plan))  # complete: the run would end at once and clean up
    before = path.read_bytes()
    line = usage_error(capsys, ["run", "--resume", str(path)])
    assert "work folder" in line and str(victim) in line and "not this run's" in line
    assert snapshot(victim) == {"keep.txt": b"x"}
    assert path.read_bytes() == before  # and the journal is kept as it was
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.json"))  # nothing ran


def test_1_a_marker_of_another_run_does_not_make_the_folder_ours(tmp_path, capsys):
    from bench import workdir

    other = workdir.create("another-run")
    (other / "keep.txt").write_text("x")
    try:
        plan = make_plan(tmp_path, other, run_id="this-run")
        path = journal_of(tmp_path, plan, complete_entries(plan))
        usage_error(capsys, ["run", "--resume", str(path)])
        assert (other / "keep.txt").read_text() == "x"
    finally:
        workdir.remove_if_ours(other, "another-run")


def test_1_the_runs_own_work_folder_is_removed_and_a_missing_one_is_replaced(tmp_path, capsys):
    from bench import workdir

    own = workdir.create("r1")
    plan = make_plan(tmp_path, own)
    assert bench(["run", "--resume", str(journal_of(tmp_path, plan, complete_entries(plan)))]) == 0
    assert not own.exists() and len(list((tmp_path / "out").rglob("*.json"))) == 1
    gone = tmp_path / "gone"  # a reboot emptied /tmp: the run goes on in a fresh folder, removed at the end
    plan = make_plan(tmp_path, gone)
    assert bench(["run", "--resume", str(journal_of(tmp_path, plan, complete_entries(plan), "b.journal"))]) == 0
    assert not gone.exists() and len(list((tmp_path / "out").rglob("*.json"))) == 2


# ---------------------------------------------------------------- 2: --resume writes nothing to a non-journal

@pytest.mark.parametrize("through_symlink", [False, True])
def test_2_resume_of_a_file_that_is_not_a_journal_leaves_it_unchanged(tmp_path, capsys, through_symlink):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"line1\nline2")  # a torn-looking last line
    target = notes
    if through_symlink:
        target = tmp_path / "link.journal"
        target.symlink_to(notes)
    line = usage_error(capsys, ["run", "--resume", str(target)])
    assert "not a torchrig run journal" in line or "line 1" in line
    assert notes.read_bytes() == b"line1\nline2"


def test_2_a_journal_with_a_bad_line_in_the_middle_is_refused_before_the_torn_tail_is_cut(tmp_path, capsys):
    plan = make_plan(tmp_path, tmp_path / "gone", runs=3)
    path = journal_of(tmp_path, plan, [Entry("", CASE.key, run(0.01, 0))])
    with open(path, "a") as handle:
        handle.write('{"not": "an entry"}\n{"setup": "", "case": "torn')
    before = path.read_bytes()
    line = usage_error(capsys, ["run", "--resume", str(path)])
    assert "line 3" in line
    assert path.read_bytes() == before
