"""`python -m bench db import|export|upgrade`, `bench history`, `compare --baseline-from-history` and `--db` on
run/validate, in this process on a SQLite file."""

from __future__ import annotations

import datetime
import random

import pytest

from bench.__main__ import main as bench
from bench.render.history import notes_along
from bench.store.database import open_engine, resolve_url
from bench.store.history import Query, series, series_changes
from tests import reports
from tests.conftest import usage_error
from tests.unit.test_store import with_torch

FIRST = datetime.datetime(2026, 10, 1, tzinfo=datetime.timezone.utc)


def stored_series(folder, count: int, *, step_at: int | None = None, hours: float = 1.0, torch_at: int | None = None,
                  first: datetime.datetime = FIRST):
    """``count`` reports of one machine, ``hours`` apart from ``first``, in ``folder``; 4 % slower from ``step_at``
    on, on torch 2.15.0 from ``torch_at`` on."""
    folder.mkdir(exist_ok=True)
    rng = random.Random(first.toordinal())
    paths = []
    for index in range(count):
        level = 0.0104 if step_at is not None and index >= step_at else 0.01
        steps = [level * (1 + rng.gauss(0, 0.004)) for _ in range(3)]
        report = reports.report([reports.record(steps)], started=(first + datetime.timedelta(hours=hours * index))
                                .isoformat(timespec="seconds"))
        if torch_at is not None and index >= torch_at:
            report = with_torch(report, "2.15.0")
        paths.append(report.dump(folder / f"{first:%m%d%H}-{index:03d}.json"))
    return paths


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "results.db")


def test_import_twice_stores_once_and_export_gives_the_files_back(tmp_path, db, capsys):
    stored_series(tmp_path / "in", 3)
    assert bench(["db", "import", str(tmp_path / "in"), "--db", db]) == 0
    assert bench(["db", "import", str(tmp_path / "in"), "--db", db]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"imported 3 file(s) into sqlite:///{db}, 0 already there, 0 refused",
                   f"imported 0 file(s) into sqlite:///{db}, 3 already there, 0 refused"]
    assert bench(["db", "export", "--out", str(tmp_path / "out"), "--db", db]) == 0
    exported = sorted((tmp_path / "out").rglob("*.json"))
    assert len(exported) == 3
    assert sorted(p.read_text() for p in exported) == sorted(p.read_text() for p in (tmp_path / "in").glob("*.json"))


def test_a_refused_file_is_named_and_the_import_exits_1(tmp_path, db, capsys):
    (tmp_path / "junk.json").write_text("[]")
    assert bench(["db", "import", str(tmp_path / "junk.json"), "--db", db]) == 1
    assert "refused " + str(tmp_path / "junk.json") in capsys.readouterr().out


def test_history_shows_the_series_with_the_software_change_and_the_change_point(tmp_path, db, capsys):
    stored_series(tmp_path / "in", 40, step_at=25, torch_at=25)
    assert bench(["db", "import", str(tmp_path / "in"), "--db", db]) == 0
    capsys.readouterr()
    key = reports.case().key
    assert bench(["history", key, "--db", db]) == 0
    table = capsys.readouterr().out
    assert f"{key} on cpu-" in table and "40 measured of 40 invocation(s)" in table
    assert "2.15.0" in table and "change point:" in table  # wrapped in its cell: the notes are checked below
    (found,) = series(open_engine(resolve_url(db)), Query(case_key=key))
    notes = notes_along(found, series_changes(found))
    assert list(notes) == [25] and notes[25][0] == "torch 2.14.1+cu130 -> 2.15.0"
    assert notes[25][1].startswith("change point: +4.")
    assert bench(["history", key, "--changes", "--db", db]) == 0
    changes = capsys.readouterr().out
    assert "1 change point(s) in 1 series" in changes and "torch 2.14.1+cu130 -> 2.15.0" in changes
    assert "2026-10-02T01:00:00" in changes  # the 26th invocation, one hour apart from 2026-10-01T00:00
    assert bench(["history", key, "--since", "2026-10-02", "--db", db]) == 0
    assert "16 measured of 16 invocation(s)" in capsys.readouterr().out


def test_history_usage_errors(db, capsys):
    assert "history needs a case key or --machine" in usage_error(bench, ["history", "--db", db], capsys)
    assert "no results for case nope" in usage_error(bench, ["history", "nope", "--db", db], capsys)
    assert "expected an ISO date" in usage_error(bench, ["history", "x", "--since", "yesterday"], capsys)
    assert "unsupported database 'mysql'" in usage_error(bench, ["history", "x", "--db", "mysql://h/d"], capsys)


def test_compare_with_a_baseline_from_history_needs_three_sittings(tmp_path, db, capsys):
    stored_series(tmp_path / "in", 4, hours=0.1)  # one sitting: 6 minutes apart
    assert bench(["db", "import", str(tmp_path / "in"), "--db", db]) == 0
    new = reports.report([reports.record([0.01, 0.0101, 0.0099])], started="2026-11-01T00:00:00+00:00")
    path = new.dump(tmp_path / "new.json")
    capsys.readouterr()
    assert bench(["compare", str(path), "--baseline-from-history", "--db", db]) == 4
    out = capsys.readouterr().out
    assert "compare: UNDECIDED" in out and "in 1 sitting(s)" in out and "fewer than 3 sittings" in out
    for day in (5, 9):  # two more sittings, days apart
        stored_series(tmp_path / "in", 2, hours=0.1, first=FIRST + datetime.timedelta(days=day))
    assert bench(["db", "import", str(tmp_path / "in"), "--db", db]) == 0
    capsys.readouterr()
    code = bench(["compare", str(path), "--baseline-from-history", "4", "--db", db, "--fail-above", "10"])
    out = capsys.readouterr().out
    # the last 4 span 2 sittings: it reaches back to the third (2 + 2 + 1 of the first sitting's 4)
    assert f"the last 5 invocation(s) on {new.fingerprint.id}" in out
    assert "sittings" not in out and code == 0 and "compare: OK" in out


def test_db_and_no_db_contradict(capsys):
    line = usage_error(bench, ["run", "--db", "x.db", "--no-db", "--list"], capsys)
    assert "--db and --no-db contradict each other" in line


def test_db_upgrade_creates_and_then_finds_the_newest_schema(db, capsys):
    assert bench(["db", "upgrade", "--db", db]) == 0
    assert bench(["db", "upgrade", "--db", db]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith(f"sqlite:///{db}: schema migrated from an empty database to revision 000")
    assert second.startswith(f"sqlite:///{db}: schema already at revision 000")
