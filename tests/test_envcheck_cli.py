"""`python -m envcheck` end to end: real environment, broken torch, bad usage."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.conftest import ROOT, assert_usage_error, load_schema, run_module

SCHEMA = load_schema(ROOT / "envcheck" / "envcheck.schema.json")


@pytest.mark.slow
def test_full_run_on_this_machine_writes_valid_json(tmp_path):
    out = tmp_path / "env.json"
    done = run_module("envcheck", "--json", str(out))
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    statuses = {row["name"]: row["status"] for row in report["checks"]}
    assert done.returncode == (1 if report["verdict"] == "FAIL" else 0), done.stdout
    assert statuses["compile cpu"] == "PASS"
    assert statuses["numerics cpu matmul"] == "PASS"
    assert "Checks" in done.stdout and "envcheck:" in done.stdout
    assert report["facts"]["torch"]["version"]


def test_quick_run_json_matches_schema(tmp_path):
    out = tmp_path / "nested" / "env.json"
    done = run_module("envcheck", "--quick", "--json", str(out))
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["options"]["quick"] is True
    assert done.returncode in (0, 1)


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--min-torch", "latest"], "--min-torch expects a version"),
        (["--json", "."], "--json expects a file path"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args, message):
    done = run_module("envcheck", *args)
    assert_usage_error(done, message)
