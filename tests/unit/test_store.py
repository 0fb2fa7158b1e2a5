"""The results database on SQLite (a temporary file): schema at connect, idempotent writes, import and export,
history series, and what happens when the database cannot be used."""

from __future__ import annotations

import dataclasses
import json
import shutil
import zlib

import pytest
from sqlalchemy import func, select

from bench.results.report import Report
from bench.store import database, history, imports, schema, writer
from tests import reports
from tests.conftest import ROOT

BASELINES = sorted((ROOT / "results" / "baselines").rglob("*.json"))


def count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def with_torch(report: Report, version: str) -> Report:
    facts = report.environment.facts
    torch = dataclasses.replace(facts.torch, version=version)
    return dataclasses.replace(report, environment=dataclasses.replace(
        report.environment, facts=dataclasses.replace(facts, torch=torch)))


def invocation(step_s: float, started: str, torch: str = "2.14.1+cu130") -> Report:
    made = reports.report([reports.record([step_s, step_s * 1.01]), reports.record([0.02], batch_size=256)],
                          started=started)
    return with_torch(made, torch)


def test_a_new_database_is_created_at_the_newest_schema_and_matches_the_tables(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        assert database.current_revision(connection) == database.head_revision()
        assert compare_metadata(MigrationContext.configure(connection), schema.metadata) == []  # migration == model


def test_a_database_of_a_newer_torchrig_is_refused(engine, url):
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(database.StoreError, match="schema revision 9999 is newer than this torchrig knows"):
        database.open_engine(url)


def test_an_older_sqlite_database_is_migrated_at_connect(url):
    from alembic import command

    old = database.make_engine(url)
    with old.begin() as connection:
        command.upgrade(database.alembic_config(connection), "0001")
    with old.begin() as connection:  # a report stored by the torchrig of revision 0001 stays
        connection.execute(schema.machine.insert(), {"fingerprint": "fp", "device": "cpu", "device_name": "n",
                                                     "fields": []})
    old.dispose()
    engine = database.open_engine(url)
    with engine.connect() as connection:
        assert database.current_revision(connection) == database.head_revision() != "0001"
        assert connection.execute(select(schema.machine.c.fingerprint)).scalar_one() == "fp"
    engine.dispose()


def test_urls_paths_and_the_environment_variable(tmp_path):
    assert database.resolve_url(None, {}).database == "results/torchrig.db"
    assert database.resolve_url(None, {"TORCHRIG_DB": str(tmp_path / "x.db")}).database == str(tmp_path / "x.db")
    pg = database.resolve_url("postgresql://bench:hunter2@db.example:5433/results", {})
    assert pg.drivername == "postgresql+psycopg"
    assert database.display(pg) == "postgresql+psycopg://bench:***@db.example:5433/results"
    with pytest.raises(database.StoreUsageError, match="unsupported database 'mysql'"):
        database.resolve_url("mysql://u@h/d", {})


def test_a_report_written_twice_is_stored_once(engine):
    report = invocation(0.01, "2026-11-30T10:00:00+00:00")
    first = writer.store_report(engine, report)
    again = writer.store_report(engine, report)
    assert (first.stored, first.cases, first.runs) == (True, 2, 3)
    assert again == writer.Written(first.invocation_key, stored=False)
    assert [count(engine, t) for t in (schema.invocation, schema.case_result, schema.run_result, schema.machine,
                                       schema.software, schema.history_key)] == [1, 2, 3, 1, 1, 2]


def test_rows_hold_the_report_figures(engine):
    report = invocation(0.01, "2026-11-30T10:00:00+00:00")
    writer.store_report(engine, report)
    record = report.cases[0]
    with engine.connect() as connection:
        case = connection.execute(select(schema.case_result).where(schema.case_result.c.case_key == record.key)).one()
        runs = connection.execute(select(schema.run_result).where(schema.run_result.c.case_key == record.key)
                                  .order_by(schema.run_result.c.run_index)).all()
        stored = connection.execute(select(schema.invocation)).one()
    assert case.step_s == pytest.approx(record.step_s) and case.items_per_s == pytest.approx(record.items_per_s)
    assert case.status == "ok" and case.runs == 2 and case.unit == "samples"
    assert [run.round_s for run in runs] == [run.round_s for run in record.runs]
    assert [run.step_s for run in runs] == pytest.approx([run.step_s for run in record.runs])
    assert runs[0].peak_memory_bytes == 2**30 and runs[0].noise["cpu"]["load_1m"] == 0.1
    assert stored.setup == {"label": "", "python": "/usr/bin/python3", "env": {}}
    assert stored.rules["rounds"] == 5 and stored.ceilings["tflops"] == {"fp32": 1.0, "amp-bf16": 2.0}
    assert stored.started == "2026-11-30T10:00:00+00:00" and stored.git_commit is None


def test_import_then_export_gives_back_every_report(tmp_path, engine):
    folder = tmp_path / "in"
    folder.mkdir()
    for path in BASELINES:
        shutil.copy(path, folder)
    synthetic = invocation(0.01, "2026-11-30T10:00:00+00:00")
    synthetic.dump(folder / "synthetic.json")
    originals = sorted(folder.glob("*.json"))
    assert len(originals) == len(BASELINES) + 1 >= 2
    summary = imports.import_paths(engine, [folder])
    assert len(summary.stored) == len(originals) and not summary.refused
    again = imports.import_paths(engine, [folder, originals[0]])  # idempotent, whatever the path
    assert len(again.stored) == 0 and len(again.already) == len(originals) + 1
    assert count(engine, schema.invocation) == len(originals)
    exported, refused, running = imports.export_reports(engine, tmp_path / "out")
    assert len(exported) == len(originals) and refused == [] and running == 0
    by_text = {path.read_text(): path for path in originals}
    for path in exported:
        original = by_text[path.read_text()]  # byte for byte
        assert Report.load(path) == Report.load(original)


def test_export_refuses_a_stored_report_the_model_would_not_load(tmp_path, engine):
    writer.store_report(engine, invocation(0.01, "2026-11-30T10:00:00+00:00"), text="{}")
    exported, ((key, reason),), _ = imports.export_reports(engine, tmp_path / "out")
    assert exported == [] and "not a torchrig bench report" in reason and len(key) == 64


def test_a_foreign_or_malformed_file_is_refused_and_nothing_of_it_written(tmp_path, engine):
    (tmp_path / "other.json").write_text(json.dumps({"tool": "someone.else"}))
    (tmp_path / "broken.json").write_text("{not json")
    good = invocation(0.01, "2026-11-30T10:00:00+00:00")
    bad = json.loads(json.dumps(good.to_json()))
    bad["benchmarks"][0]["extra_info"]["runs"][0]["round_s"] = [-1.0] * 5
    (tmp_path / "negative.json").write_text(json.dumps(bad))
    summary = imports.import_paths(engine, [tmp_path])
    reasons = dict((path.name, reason) for path, reason in summary.refused)
    assert set(reasons) == {"other.json", "broken.json", "negative.json"} and not summary.stored
    assert "'someone.else'" in reasons["other.json"] and "not JSON" in reasons["broken.json"]
    assert "round times must be finite and > 0" in reasons["negative.json"]
    assert count(engine, schema.invocation) == 0 and count(engine, schema.run_result) == 0
    with pytest.raises(imports.MissingPath, match="no such file or folder"):
        imports.import_paths(engine, [tmp_path / "absent"])


def test_envcheck_reports_are_imported_with_their_checks(tmp_path, engine):
    from envcheck.checks import CheckOptions
    from envcheck.records import failed, passed
    from envcheck.report import EnvReport

    report = EnvReport(reports.ENVIRONMENT.facts, (passed("torch import", "2.14.1"),
                                                   failed("cuda", "no device", "install a driver")),
                       CheckOptions(), "2026-11-30T09:00:00+00:00")
    path = tmp_path / "envcheck.json"
    path.write_text(json.dumps(report.as_dict()))
    assert EnvReport.from_json(json.loads(path.read_text())) == report
    assert len(imports.import_paths(engine, [path, path]).stored) == 1
    with engine.connect() as connection:
        stored = connection.execute(select(schema.envcheck_report)).one()
        checks = connection.execute(select(schema.envcheck_result.c.name, schema.envcheck_result.c.status,
                                           schema.envcheck_result.c.fix).order_by(schema.envcheck_result.c.name)).all()
    assert stored.verdict == "FAIL" and zlib.decompress(stored.report).decode() == path.read_text()
    assert [tuple(c) for c in checks] == [("cuda", "FAIL", "install a driver"), ("torch import", "PASS", None)]


def test_a_history_series_is_in_order_with_the_software_along_it(engine):
    for day, torch in ((3, "2.14.1"), (1, "2.11.0"), (2, "2.11.0")):
        writer.store_report(engine, invocation(0.01 * day, f"2026-11-{day:02d}T10:00:00+00:00", torch))
    key = reports.case().key
    (found,) = history.series(engine, history.Query(case_key=key))
    assert [p.started[:10] for p in found.points] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert [p.step_s for p in found.points] == pytest.approx([0.01 * 1.005, 0.02 * 1.005, 0.03 * 1.005], rel=0.01)
    assert history.software_changes(found) == [(2, [("torch", "2.11.0", "2.14.1")])]
    since = history.series(engine, history.Query(case_key=key, since="2026-11-02T00:00:00+00:00"))[0]
    assert len(since.points) == 2
    by_machine = history.series(engine, history.Query(fingerprint=found.fingerprint))
    assert sorted(s.case_key for s in by_machine) == sorted([key, reports.case(batch_size=256).key])


def test_a_step_in_the_history_is_a_change_point_with_what_changed_there(engine):
    import random

    rng = random.Random(3)
    for index in range(40):
        level, torch = (0.0104, "2.14.1") if index >= 25 else (0.01, "2.11.0")
        writer.store_report(engine, invocation(level * (1 + rng.gauss(0, 0.005)),
                                               f"2026-10-01T{index // 4:02d}:{index % 4 * 15:02d}:00+00:00", torch))
    (found,) = history.series(engine, history.Query(case_key=reports.case().key))
    (change,) = history.series_changes(found)
    assert change.point == found.points[25] and change.magnitude == pytest.approx(0.04, abs=0.01)
    assert change.differences == [("torch", "2.11.0", "2.14.1")]


def test_noisy_points_are_left_out_of_change_points_and_validate_sees_recent_ones(engine):
    import random

    rng = random.Random(4)
    for index in range(40):
        step = (0.0104 if index >= 25 else 0.01) * (1 + rng.gauss(0, 0.003))
        started = f"2026-10-02T{index // 4:02d}:{index % 4 * 15:02d}:00+00:00"
        made = reports.report([reports.record([step, step])], started=started)
        writer.store_report(engine, made)
    for index in range(8):  # a busy machine, twice as slow: noisy, never slower
        made = reports.report([reports.record([0.02, 0.02, 0.02], noisy_runs=(0, 1, 2))],
                              started=f"2026-10-03T{index:02d}:00:00+00:00")
        writer.store_report(engine, made)
    (found,) = history.series(engine, history.Query(case_key=reports.case().key))
    assert len(found.measured) == 48 and len(found.quiet) == 40
    (change,) = history.series_changes(found)
    assert change.point == found.points[25]
    fingerprint = found.fingerprint
    assert [c.point for c in history.recent_changes(engine, fingerprint, last=15)] == [found.points[25]]
    assert history.recent_changes(engine, fingerprint, last=10) == []
