"""`bench history CASE --plot FILE.png`: the figure holds the series' medians on a log axis, each invocation's
runs, the change point and the software change where they are; the PNG is written; without matplotlib, or with
a path that is not a PNG, it is one line and exit 2 before the database is read."""

from __future__ import annotations

import random
import sys

import pytest
from matplotlib.dates import date2num

from bench.__main__ import main as bench
from bench.render.history_plot import PNG_MAGIC, Panel, history_figure, when
from bench.store import database, history, writer
from tests import reports
from tests.conftest import usage_error
from tests.unit.test_store import with_torch

STEP_AT = 25


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """40 invocations of a case, 3 runs each, 4 % slower and on torch 2.15.0 from the 25th on (read only)."""
    path = tmp_path_factory.mktemp("history") / "results.db"
    engine = database.open_engine(database.resolve_url(str(path)))
    rng = random.Random(5)
    for index in range(40):
        level = 0.0104 if index >= STEP_AT else 0.01
        made = reports.report([reports.record([level * (1 + rng.gauss(0, 0.003)) for _ in range(3)])],
                              started=f"2026-10-{1 + index // 8:02d}T{index % 8 * 3:02d}:00:00+00:00")
        writer.store_report(engine, with_torch(made, "2.15.0" if index >= STEP_AT else "2.14.1"))
    engine.dispose()
    return path


def panel(db) -> Panel:
    engine = database.open_engine(database.resolve_url(str(db)))
    (one,) = history.series(engine, history.Query(case_key=reports.case().key))
    made = Panel(one, history.series_changes(one), history.run_steps(engine, one))
    engine.dispose()
    return made


def test_the_figure_shows_medians_runs_the_change_point_and_the_software_change(db):
    made = panel(db)
    one = made.series
    (change,) = made.changes
    assert change.point == one.points[STEP_AT]
    fig = history_figure([made])
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert ax.get_yscale() == "log"
    medians = lines["median step of an invocation"]
    assert list(medians.get_ydata()) == pytest.approx([p.step_s for p in one.points])
    assert list(medians.get_xdata()) == [when(p.started) for p in one.points]
    runs = lines["a run's median step"]
    assert len(runs.get_ydata()) == 40 * 3
    assert sorted(runs.get_ydata()) == pytest.approx(sorted(s for steps in made.runs.values() for s in steps))
    spread = next(c for c in ax.collections if c.get_label() == "its runs (min to max)")
    first = spread.get_segments()[0]
    assert (first[0][1], first[1][1]) == pytest.approx((min(made.runs[one.points[0].invocation_key]),
                                                        max(made.runs[one.points[0].invocation_key])))
    at = when(one.points[STEP_AT].started)
    assert list(lines["change point"].get_xdata()) == [at, at]
    assert list(lines["software or host changed"].get_xdata()) == [at, at]
    assert date2num(at) > date2num(when(one.points[STEP_AT - 1].started))
    texts = [text.get_text() for text in ax.texts]
    assert "torch 2.14.1 -> 2.15.0" in texts and f"{change.magnitude:+.1%}" in texts
    assert change.magnitude == pytest.approx(0.04, abs=0.01)
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.slow  # the whole command and a PNG drawn twice: ~1.5 s, over the fast phase's budget
def test_history_plot_writes_the_png_and_names_it(tmp_path, db, capsys):
    out = tmp_path / "series.png"
    assert bench(["history", reports.case().key, "--db", str(db), "--plot", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"history: wrote {out}"
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    from matplotlib.image import imread

    assert imread(out).shape[:2] == (int(3.6 * 110), 10 * 110)  # one panel, 10 x 3.6 in at 110 dpi
    assert bench(["history", reports.case().key, "--db", str(db), "--plot", str(out), "--changes"]) == 0  # replaced


def test_history_plot_without_matplotlib_or_into_a_non_png_is_one_line_and_exit_2(tmp_path, db, monkeypatch,
                                                                                  capsys):
    key = reports.case().key
    text = tmp_path / "notes.png"
    text.write_text("my notes")
    line = usage_error(bench, ["history", key, "--db", str(db), "--plot", str(text)], capsys)
    assert line.endswith(f"--plot {text}: exists and is not a PNG; refusing to replace it")
    assert text.read_text() == "my notes"
    line = usage_error(bench, ["history", key, "--db", str(db), "--plot", str(tmp_path / "x.svg")], capsys)
    assert line.endswith("expected a .png file name")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # an environment without matplotlib: import fails
    line = usage_error(bench, ["history", key, "--db", str(db), "--plot", str(tmp_path / "s.png")], capsys)
    assert line.endswith("plots need matplotlib: pip install 'torchrig[plot]'")
    assert not (tmp_path / "s.png").exists()
