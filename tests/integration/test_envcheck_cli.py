"""`python -m envcheck` end to end: real environment, broken torch, JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema

from tests.conftest import ROOT, load_schema, run_module

SCHEMA = load_schema(ROOT / "envcheck" / "envcheck.schema.json")


def test_a_run_on_this_machine_writes_json_and_junit(tmp_path):
    out, xml = tmp_path / "env.json", tmp_path / "env.xml"
    done = run_module("envcheck", "--quick", "--json", str(out), "--junit-xml", str(xml))
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    statuses = {row["name"]: row["status"] for row in report["checks"]}
    assert done.returncode == (1 if report["verdict"] == "FAIL" else 0), done.stdout
    assert statuses["torch"] == "PASS" and statuses["dataloader workers"] == "PASS"
    assert report["facts"]["cpu"]["flags"] and report["schema_version"] == 2
    root = ET.parse(xml).getroot()
    (suite,) = root
    assert suite.get("name") == "envcheck" and int(suite.get("tests")) == len(report["checks"])
    names = {case.get("name") for case in suite}
    assert {"torch", "compile", "machine load", "precision cpu"} <= names
    skipped = [case for case in suite if case.find("skipped") is not None]
    assert len(skipped) == report["counts"]["SKIP"]
    assert report["options"]["quick"] is True


def test_unimportable_torch_is_a_fail_row_and_json_is_still_written(tmp_path):
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("libtorch_cuda.so: cannot open shared object file")\n')
    out = tmp_path / "env.json"
    done = run_module("envcheck", "--json", str(out), env={"PYTHONPATH": f"{fake.parent}:{ROOT}"})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    torch_row = next(row for row in report["checks"] if row["name"] == "torch")
    assert torch_row["status"] == "FAIL" and "libtorch_cuda.so" in torch_row["detail"]
    assert report["facts"]["torch"] is None
