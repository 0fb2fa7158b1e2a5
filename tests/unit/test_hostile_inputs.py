"""Hostile inputs (issue 21): a journal, report or label from someone else never deletes, overwrites,
injects or crashes. Each test feeds the input of the issue and checks what must hold: the victim's files
unchanged, exit code 2 and one line, no control character in any output."""

from __future__ import annotations

import json
import os
import re

import pytest

from bench.__main__ import main as bench
from bench.results.cases import Case
from bench.results.journal import Entry, Journal
from bench.results.report import Ceilings, Setup
from bench.run.plan import Plan, SetupPlan
from bench.run.request import InvocationRequest
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


def make_plan(tmp_path, work_dir, *, runs: int = 1, invocation_id: str = "r1", cases=(CASE,)) -> Plan:
    setup = SetupPlan(Setup("", "/usr/bin/python3"), ENVIRONMENT, "cpu", Ceilings("cpu", {"fp32": 1.0}), {}, [])
    request = InvocationRequest(device="cpu", runs=runs, out=tmp_path / "out", ceilings=(("fp32", 1.0),))
    return Plan(request, list(cases), [setup], str(work_dir), "2026-01-01T00:00:00+00:00", invocation_id)


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
    assert "work folder" in line and str(victim) in line and "not this invocation's" in line
    assert snapshot(victim) == {"keep.txt": b"x"}
    assert path.read_bytes() == before  # and the journal is kept as it was
    assert not list(tmp_path.rglob("*.json"))  # nothing ran, no report


def test_1_a_marker_of_another_run_does_not_make_the_folder_ours(tmp_path, capsys):
    from bench.run import workdir

    other = workdir.create("another-run")
    (other / "keep.txt").write_text("x")
    try:
        plan = make_plan(tmp_path, other, invocation_id="this-run")
        path = journal_of(tmp_path, plan, complete_entries(plan))
        usage_error(capsys, ["run", "--resume", str(path)])
        assert (other / "keep.txt").read_text() == "x"
    finally:
        workdir.remove_if_ours(other, "another-run")


def test_1_the_runs_own_work_folder_is_removed_and_a_missing_one_is_replaced(tmp_path, capsys):
    from bench.run import workdir

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


# ---------------------------------------------------------------- 7: a journal line is a run of the plan, once

@pytest.mark.parametrize(("indices", "problem"), [
    ([0, 0, 1], "line 3: run 0 of mlp-infer-eager-fp32-bs1-cpu is already recorded"),
    ([0, 1, 7], "line 4: run index 7 of mlp-infer-eager-fp32-bs1-cpu is out of range (the plan has runs 0..1)"),
])
def test_7_duplicated_or_out_of_range_journal_lines_are_refused(tmp_path, capsys, indices, problem):
    plan = make_plan(tmp_path, tmp_path / "gone", runs=2)
    path = journal_of(tmp_path, plan, [Entry("", CASE.key, run(0.01, i)) for i in indices])
    before = path.read_bytes()
    line = usage_error(capsys, ["run", "--resume", str(path)])
    assert problem in line
    assert path.read_bytes() == before
    assert not list(tmp_path.rglob("*.json"))  # nothing ran, no report


def test_7_11_lines_of_another_setup_or_case_are_refused_and_the_count_is_of_valid_lines(tmp_path, capsys):
    plan = make_plan(tmp_path, tmp_path / "gone", runs=2)
    path = journal_of(tmp_path, plan, [Entry("", CASE.key, run(0.01, 0)), Entry("B", CASE.key, run(0.01, 1))])
    assert "line 3: setup 'B' is not in the journal's plan" in usage_error(capsys, ["run", "--resume", str(path)])
    path = journal_of(tmp_path, plan, [Entry("", CASE.key, run(0.01, 0))], "ok.journal")
    assert bench(["run", "--resume", str(path)]) == 1  # /usr/bin/python3 has no torch here: the run fails, recorded
    assert "1 of 2 runs already recorded" in capsys.readouterr().out


# ---------------------------------------------------------------- 8: one run or resume of a journal at a time

def test_8_a_second_resume_of_a_journal_in_use_names_the_holder_and_changes_nothing(tmp_path, capsys):
    plan = make_plan(tmp_path, tmp_path / "gone", runs=2)
    path = journal_of(tmp_path, plan)
    holder, _, _ = Journal.open(path, Plan, lock=True)
    with open(path, "a") as handle:
        handle.write('{"setup": "", "ca')  # the holder is mid-write: the second resume must not cut it
    before = path.read_bytes()
    try:
        line = usage_error(capsys, ["run", "--resume", str(path)])
        assert f"in use by another torchrig run (PID {os.getpid()})" in line
        assert path.read_bytes() == before
    finally:
        holder.release()
    assert not holder.holder_file.exists()
    Journal.open(path, Plan, lock=True)[0].release()  # free again once released


# ---------------------------------------------------------------- 9: journal names never clash

def test_9_journals_of_runs_started_in_one_second_get_different_names(tmp_path):
    from bench.run.execute import create_journal

    plan = make_plan(tmp_path, tmp_path / "w")
    journals = [create_journal(plan.request, plan) for _ in range(20)]
    try:
        assert len({j.path for j in journals}) == 20 and all(j.path.exists() for j in journals)
    finally:
        for journal in journals:
            journal.release()


# ---------------------------------------------------------------- 10: upper bounds, a plan that does not grow

@pytest.mark.parametrize(("flags", "message"), [
    (["--runs", "1000000000"], "--runs must be in 1..10000, got 1000000000"),
    (["--rounds", "99999999999"], "--rounds must be in 5..10000, got 99999999999"),
    (["--min-round-s", "1e9"], "--min-round-s must be at most 600 s, got 1e+09"),
    (["--warmup-max-s", "1e9"], "--warmup-max-s must be at most 3600 s"),
    (["--case-timeout", "1e12"], "--case-timeout must be at most 604800 s"),
    (["--batch-sizes", "99999999999"], "batch size must be in 1..1048576, got 99999999999"),
    (["--loader-workers", "100000"], "--loader-workers must be in 0..256"),
    (["--lora-rank", "99999999"], "--lora-rank must be in 1..65536"),
    (["--ceilings", "fp32=1e300"], "--ceilings expects PRECISION=TFLOPS"),
])
def test_10_absurd_sizes_are_refused_in_one_line(tmp_path, capsys, flags, message):
    assert message in usage_error(capsys, ["run", "--out", str(tmp_path), *flags])
    assert list(tmp_path.iterdir()) == []


def test_10_the_plans_memory_does_not_grow_with_runs(tmp_path):
    import tracemalloc

    cases = [CASE, Case("mlp", "infer", "eager", "fp32", 2, "cpu")]
    plan = make_plan(tmp_path, tmp_path / "w", runs=10_000, cases=cases)
    tracemalloc.start()
    assert plan.slot_count() == 20_000
    first = next(iter(plan.slots()))
    assert sum(1 for _ in plan.slots()) == 20_000
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert first[2] == 0 and peak < 64 * 1024  # a list of 20,000 slots alone is over 1 MB


# ---------------------------------------------------------------- 3: no control character reaches an output

EVIL = "\x1b[2J\x1b]0;pwned\x07"
SGR = r"\x1b\[[0-9;]*m"  # rich's own colours, with FORCE_COLOR


def control_characters(text: str) -> list[str]:
    from envcheck.text import UNSAFE

    return UNSAFE.findall(re.sub(SGR, "", text))


def evil_report(tmp_path, name: str):
    from bench.results.records import CaseRecord, Status
    from tests.reports import case, record, report

    good = report([record([0.01, 0.011, 0.0105]), CaseRecord(case(batch_size=8), Status.FAILED, "x")])
    path = good.dump(tmp_path / "good.json")
    data = json.loads(path.read_text())
    facts = data["torchrig"]["environment"]["facts"]
    facts["system"]["hostname"] = f"host{EVIL}"
    facts["cpu"]["model"] = f"cpu{EVIL}"
    facts["torch"]["version"] = f"2.14{EVIL}"
    data["torchrig"]["unmeasured"][0]["reason"] = f"failed {EVIL}"
    evil = tmp_path / name
    evil.write_text(json.dumps(data))
    return path, evil


@pytest.mark.parametrize("color", ["", "1"])
def test_3_escapes_in_a_report_reach_no_terminal_markdown_or_html(tmp_path, capsys, monkeypatch, color):
    if color:
        monkeypatch.setenv("FORCE_COLOR", color)
    else:
        monkeypatch.delenv("FORCE_COLOR", raising=False)
    good, evil = evil_report(tmp_path, "evil.json")
    bench(["compare", str(good), str(evil)])
    bench(["summary", str(evil)])
    bench(["summary", str(good), str(evil)])
    assert bench(["report", str(good), str(evil), "--out", str(tmp_path / "page")]) == 0
    out, err = capsys.readouterr()
    assert "\\x1b]0;pwned\\x07" in re.sub(SGR, "", out)  # shown, escaped
    assert control_characters(out + err) == []
    for name in ("summary.md", "index.html"):
        text = (tmp_path / "page" / name).read_text()
        assert "pwned" in text and control_characters(text) == []


def test_3_11_progress_lines_errors_and_junit_xml_carry_no_control_character(tmp_path, capsys):
    import io
    import xml.etree.ElementTree as ET

    from bench.render.progress import PrintProgress
    from bench.results.records import RunRecord, Status
    from envcheck.junit import TestCase, junit_xml

    stream = io.StringIO()
    PrintProgress(stream).finished(RunRecord(0, Status.FAILED, f"worker said {EVIL}"))  # a reason from a journal
    assert "pwned" in stream.getvalue() and control_characters(stream.getvalue()) == []
    xml = junit_xml("torchrig.validate", {f"suite{EVIL}": [TestCase("validate", f"case\x00{EVIL}", "failure",
                                                                    f"slower \x1b[31m{EVIL}", "body\x0c")]})
    root = ET.fromstring(xml)  # well-formed: XML 1.0 cannot hold these characters raw
    case = root.find("testsuite/testcase")
    assert case.get("name") == "case\\x00\\x1b[2J\\x1b]0;pwned\\x07"
    assert control_characters(xml.decode()) == []
    notes = tmp_path / f"n{EVIL[:4]}.journal"
    notes.write_text("x\n")
    assert control_characters(usage_error(capsys, ["run", "--resume", str(notes)])) == []


# ---------------------------------------------------------------- 4: labels name folders: a safe alphabet only

@pytest.mark.parametrize("label", ["../../evil", "/tmp/evil", ".hidden", "a/b", "x" * 65, "tab\there", "é"])
def test_4_a_setup_label_outside_the_safe_alphabet_is_refused(tmp_path, capsys, label):
    line = usage_error(capsys, ["run", "--out", str(tmp_path / "out"), "--setup", f"{label}=python"])
    assert "expected up to 64 of A-Z a-z 0-9 . _ -" in line
    assert not (tmp_path / "evil").exists() and not list(tmp_path.rglob("evil"))


def test_4_a_journal_whose_labels_or_keys_lead_outside_its_work_folder_is_refused(tmp_path, capsys):
    from bench.run import workdir

    own = workdir.create("r1")
    try:
        plan = make_plan(tmp_path, own)
        plan.setups[0].setup.label = "../../evil"  # edited in the journal, past the request's checks
        path = journal_of(tmp_path, plan)
        line = usage_error(capsys, ["run", "--resume", str(path)])
        assert "is not inside" in line and "../../evil" in line
        assert not (own.parent / "evil").exists() and not (own.parent.parent / "evil").exists()
    finally:
        workdir.remove_if_ours(own, "r1")


def test_4_inside_refuses_every_way_out(tmp_path):
    from envcheck.files import OutputError, inside

    (tmp_path / "link").symlink_to("/")
    assert inside(tmp_path, "a", "b.json") == tmp_path / "a" / "b.json"
    for names in (("..", "x"), ("/etc",), ("a", "../../x"), ("link", "etc"), ("",), (".",)):
        with pytest.raises(OutputError, match="is not inside"):
            inside(tmp_path, *names)


# ---------------------------------------------------------------- 6: absurd values refused when a report is read

def big_report(tmp_path, where: str, value):
    from tests.reports import record, report

    good = report([record([0.01, 0.011, 0.0105])]).dump(tmp_path / "good.json")
    data = json.loads(good.read_text())
    run_json = data["benchmarks"][0]["extra_info"]["runs"][0]
    if where == "compile":
        run_json["compile"] = {"seconds": value, "cache": "cold"}
    else:
        run_json[where] = value
    big = tmp_path / "big.json"
    big.write_text(json.dumps(data))
    return good, big


@pytest.mark.parametrize(("where", "value", "message"), [
    ("round_s", [1e308] * 5, "round times must be between 1e-09 and 604800 s, got 1e+308"),
    ("round_s", [1e-300] * 5, "round times must be between"),
    ("steps_per_round", 10**30, "steps per round must be in 1..1000000000"),
    ("compile", 1e308, "compile seconds must be in 0..604800 s"),
    ("duration_s", 1e308, "duration_s must be in 0..604800 s"),
])
def test_6_absurd_times_are_refused_at_load_by_compare_summary_and_validate(tmp_path, capsys, where, value, message):
    good, big = big_report(tmp_path, where, value)
    before = big.read_bytes()
    assert message in usage_error(capsys, ["compare", str(good), str(big)])
    assert message in usage_error(capsys, ["summary", str(big)])
    assert message in usage_error(capsys, ["compare", str(big), str(good)])
    assert big.read_bytes() == before


def test_6_validate_refuses_an_absurd_baseline_before_anything_runs(tmp_path, capsys, monkeypatch):
    import bench.run.execute

    def must_not_run(*args, **kwargs):
        raise AssertionError("the suite ran before the baseline was checked")

    monkeypatch.setattr(bench.run.execute, "execute", must_not_run)
    _, big = big_report(tmp_path, "round_s", [1e308] * 5)
    line = usage_error(capsys, ["validate", "--device", "cpu", "--baseline", str(big), "--out", str(tmp_path / "o")])
    assert "cannot use the baseline" in line and "round times must be between" in line


# ---------------------------------------------------------------- 9: a report is not compared with itself

def test_9_a_report_compared_with_itself_or_its_copy_is_refused(tmp_path, capsys):
    from tests.reports import record, report

    path = report([record([0.01, 0.011, 0.0105])]).dump(tmp_path / "a.json")
    copy = tmp_path / "folder" / "copy.json"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    (tmp_path / "link.json").symlink_to(path)
    for base, new in ((path, path), (path, copy), (tmp_path / "link.json", path), (copy.parent, path)):
        line = usage_error(capsys, ["compare", str(base), str(new)])
        assert "is the same report as" in line and "expected two different runs" in line
    other = report([record([0.01, 0.011, 0.0105])], label="other").dump(tmp_path / "b.json")
    assert bench(["compare", str(path), str(other), "--allow-undecided"]) == 0  # two runs are still compared


# ---------------------------------------------------------------- 11: no traceback, no silent empty

def test_11_an_empty_folder_is_a_usage_error_for_compare_summary_and_report(tmp_path, capsys):
    from tests.reports import record, report

    empty = tmp_path / "empty"
    empty.mkdir()
    path = report([record([0.01, 0.011])]).dump(tmp_path / "a.json")
    for argv in (["compare", str(empty), str(path)], ["compare", str(path), str(empty)], ["summary", str(empty)],
                 ["report", str(empty), "--out", str(tmp_path / "page")]):
        assert f"{empty}: a folder with no report (*.json)" in usage_error(capsys, argv)
    assert not (tmp_path / "page").exists()


@pytest.mark.parametrize("flag", [["--batch-sizes", "1,,2"], ["--batch-sizes", "1,"], ["--models", "mlp,,cnn"]])
def test_11_a_gap_in_a_comma_list_is_refused(tmp_path, capsys, flag):
    assert "empty item in" in usage_error(capsys, ["run", "--out", str(tmp_path), *flag])


def test_11_record_refused_on_a_busy_machine_says_why():
    from bench.analysis.baselines import recordable
    from tests.reports import record, report

    busy = report([record([0.01, 0.011, 0.0105], noisy_runs=(0, 1, 2))])
    reason = recordable(busy, "healthy")
    assert reason.startswith("the machine was busy during 1 case(s) (") and "quiet machine" in reason
    assert recordable(report([record([0.01, 0.011, 0.0105])]), "degraded") is None  # every clean run is kept
    assert recordable(busy, "broken") == "the run is broken"


# ---------------------------------------------------------------- 5: a bounded rank count

def test_5_more_ranks_than_cores_or_the_hard_limit_is_refused_unless_forced(tmp_path, capsys):
    from bench.run.request import Launch

    assert "--nproc-per-node must be at most 1024, got 99999" in usage_error(
        capsys, ["run", "--device", "cpu", "--nproc-per-node", "99999", "--oversubscribe", "--out", str(tmp_path)])
    cores = os.cpu_count()
    line = usage_error(capsys, ["run", "--device", "cpu", "--nproc-per-node", str(cores + 1), "--out", str(tmp_path)])
    assert line.endswith(f"--nproc-per-node {cores + 1} is more than this node's {cores} cores; pass --oversubscribe "
                         "to run that many ranks anyway")
    forced = InvocationRequest(device="cpu", launch=Launch(cores + 1, oversubscribe=True), out=tmp_path)
    assert forced.launch.world_size == cores + 1
    assert Launch(2).rank_count_error("cuda", 64, 1) == ("--nproc-per-node 2 is more than this node's 1 GPUs; "
                                                        "pass --oversubscribe to run that many ranks anyway")
    assert Launch(8).rank_count_error("cuda", 2, 8) is None
