"""The report model: pytest-benchmark layout, round trip, never overwritten, and every malformed
file refused with one line naming the file and what is wrong."""

from __future__ import annotations

import dataclasses
import json

import jsonschema
import pytest

from bench.results.records import Status
from bench.results.report import Report, ReportError
from tests.conftest import ROOT, load_schema
from tests.reports import record, report

SCHEMA = load_schema(ROOT / "bench" / "results" / "report.schema.json")


@pytest.fixture
def written(tmp_path):
    data = report([record([0.010, 0.011, 0.0105], backend="compile"), record([0.02, 0.021]),
                   record([], status=Status.CRASHED, batch_size=8)])
    return data.dump(tmp_path / "r.json")


def test_layout_is_pytest_benchmark_json_plus_torchrig(written):
    data = json.loads(written.read_text())
    jsonschema.validate(data, SCHEMA)
    assert [entry["name"] for entry in data["benchmarks"]] == ["test_case[cnn-train-compile-fp32-bs64-cpu]",
                                                               "test_case[cnn-train-eager-fp32-bs64-cpu]"]
    entry = data["benchmarks"][1]
    assert entry["stats"]["iterations"] == 100 and len(entry["stats"]["data"]) == 10  # 2 runs x 5 rounds, per step
    assert entry["extra_info"]["summary"]["items_per_s"] == pytest.approx(64 / 0.0205)
    (crashed,) = data["torchrig"]["unmeasured"]
    assert crashed["status"] == "crashed" and crashed["reason"] == "crashed for the test"
    assert data["machine_info"]["torchrig"]["fingerprint"].startswith("cpu-intel")


def test_round_trip_keeps_every_run(written):
    loaded = Report.load(written)
    assert [r.key for r in loaded.cases] == ["cnn-train-compile-fp32-bs64-cpu", "cnn-train-eager-fp32-bs64-cpu",
                                             "cnn-train-eager-fp32-bs8-cpu"]
    assert loaded.find("cnn-train-compile-fp32-bs64-cpu").run_step_s == pytest.approx([0.010, 0.011, 0.0105])
    assert loaded.find("cnn-train-eager-fp32-bs8-cpu").status is Status.CRASHED
    assert loaded.environment.facts.cpu.flags  # typed all the way down


def test_reports_are_never_overwritten(written):
    again = Report.load(written)
    second = again.dump(written)
    assert second.name == "r-1.json" and written.exists()
    assert not list(written.parent.glob(".*.tmp"))


def test_pytest_benchmark_compare_reads_our_reports(written, tmp_path):
    import subprocess
    import sys

    other = Report.load(written).dump(tmp_path / "other.json")
    done = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(written), str(other)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Failed to load" not in done.stderr, done.stderr
    assert done.stdout.count("test_case[cnn-train-eager-fp32-bs64-cpu]") == 2


def mutate(written, change):
    data = json.loads(written.read_text())
    change(data)
    written.write_text(json.dumps(data))
    return written


def extra_info(data):
    return data["benchmarks"][1]["extra_info"]


MALFORMED = [
    ("schema_version only", lambda p: p.write_text('{"schema_version": 2}'), "not a torchrig bench report"),
    ("not JSON", lambda p: p.write_text("{oops"), "not JSON"),
    ("a list", lambda p: p.write_text("[1, 2]"), "not a torchrig bench report"),
    ("version 1", lambda p: mutate(p, lambda d: d.update(schema_version=1)), "schema_version 1 is not supported"),
    ("version 2", lambda p: mutate(p, lambda d: d.update(schema_version=2)), "version 2 named the invocation 'run'"),
    ("missing case field", lambda p: mutate(p, lambda d: extra_info(d)["case"].pop("mode")),
     "$.benchmarks[1].extra_info.case: missing field 'mode'"),
    ("extra case field", lambda p: mutate(p, lambda d: extra_info(d)["case"].update(colour="red")),
     "$.benchmarks[1].extra_info.case: unexpected field 'colour'"),
    ("empty times", lambda p: mutate(p, lambda d: extra_info(d)["runs"][0].update(round_s=[])),
     "an ok run needs round times"),
    ("non-numeric times", lambda p: mutate(p, lambda d: extra_info(d)["runs"][0].update(round_s=["fast"])),
     "round_s[0]: expected a number, got a string"),
    ("zero time", lambda p: mutate(p, lambda d: extra_info(d)["runs"][0].update(round_s=[0.0])),
     "round times must be finite and > 0, got 0.0"),
    ("negative time", lambda p: mutate(p, lambda d: extra_info(d)["runs"][1].update(round_s=[-1.0])),
     "round times must be finite and > 0"),
    ("NaN time", lambda p: p.write_text(p.read_text().replace('"round_s": [\n', '"round_s": [\nNaN, ', 1)),
     "NaN is not a JSON number"),
    ("deeply nested garbage", lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    ("garbage torchrig block", lambda p: mutate(p, lambda d: d["torchrig"].update(invocation=[[[[{}]]]])),
     "$.torchrig.invocation: expected an object, got a list"),
    ("unknown status", lambda p: mutate(p, lambda d: d["torchrig"]["unmeasured"][0].update(status="exploded")),
     "$.torchrig.unmeasured[0].status: expected one of"),
]


@pytest.mark.parametrize(("what", "damage", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_reports_are_one_typed_error_naming_the_file(written, what, damage, message):
    damage(written)
    with pytest.raises(ReportError) as error:
        Report.load(written)
    text = str(error.value)
    assert text.startswith(f"{written}: ") and message in text and "\n" not in text


def test_missing_file_is_a_report_error(tmp_path):
    with pytest.raises(ReportError, match="no such file"):
        Report.load(tmp_path / "missing.json")


def test_language_model_generation_rates():
    from bench.results.records import CaseRecord, Generation
    from tests.reports import case, run

    runs = [dataclasses.replace(run(0.01, i, items=256), generation=Generation(
        prompt_tokens=128, new_tokens=32, prefill_s=0.1 * (1 + i), decode_s=0.31, cache="dynamic")) for i in range(3)]
    record = CaseRecord.from_runs(case(model="llm-tiny", mode="infer", batch_size=2), runs)
    prefill, decode = record.generation_rates()
    assert prefill == 2 * 128 / 0.2 and decode == 2 * 31 / 0.31
