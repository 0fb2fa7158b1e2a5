"""The site's building blocks, fast: escaping (pages, embedded JSON, Plotly's labels), page names, the manifest's
incremental writes, and the ratio to the fleet median."""

from __future__ import annotations

import json

import pytest

from bench import config
from bench.render.site.html import plot_text, render, slug
from bench.render.site.output import SiteWriter
from bench.render.site.publish import safe_json
from envcheck.files import OutputError

EVIL = "</script><script>alert(1)</script><!-- \u2028 & 'x' \"y\""


def test_json_for_a_script_element_cannot_end_it_and_reads_back_the_same():
    text = str(safe_json({"name": EVIL, "values": [1.5, None]}))
    assert not any(c in text for c in "<>&'\u2028")
    assert json.loads(text) == {"name": EVIL, "values": [1.5, None]}


def test_text_for_plotly_has_no_tag_left():
    assert plot_text("a<b>c</b> & <br>") == "a&lt;b&gt;c&lt;/b&gt; &amp; &lt;br&gt;"


def test_a_page_shows_untrusted_text_escaped():
    page = render("cases.html", title=EVIL, database="db", root="", plots=False, invocations=False,
                  published="2026-12-01T00:00:00+00:00",
                  cases=[{"case": EVIL, "page": "cases/x.html", "series": 1, "nodes": 1, "points": 1, "changes": 0,
                          "last": None}])
    assert "<script>alert" not in page and "</script><script>" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_page_names_are_safe_and_distinct():
    names = {slug("a/b"), slug("a-b"), slug("a b"), slug("../../etc/passwd"), slug(EVIL)}
    assert len(names) == 5 and all(n.replace("-", "").replace(".", "").replace("_", "").isalnum() for n in names)
    assert not any(n.startswith(".") for n in names)


def test_only_changed_pages_are_written_and_pages_no_longer_made_are_removed(tmp_path):
    out = tmp_path / "site"
    first = SiteWriter(out)
    for name in ("index.html", "nodes/a.html", "nodes/b.html"):
        first.page(name, f"{name}-1", lambda name=name: f"<p>{name} 1</p>")
    first.finish()
    assert sorted(first.written) == ["index.html", "nodes/a.html", "nodes/b.html"]
    second = SiteWriter(out)
    second.page("index.html", "index.html-2", lambda: "<p>index 2</p>")
    second.page("nodes/a.html", "nodes/a.html-1", lambda: pytest.fail("an unchanged page was rendered"))
    second.finish()
    assert second.written == ["index.html"] and second.unchanged == ["nodes/a.html"]
    assert second.removed == ["nodes/b.html"] and not (out / "nodes" / "b.html").exists()
    assert (out / "index.html").read_text() == "<p>index 2</p>"
    (out / "nodes" / "a.html").unlink()  # a page deleted by hand is written again
    third = SiteWriter(out)
    third.page("nodes/a.html", "nodes/a.html-1", lambda: "<p>a 1</p>")
    assert third.written == ["nodes/a.html"]
    assert json.loads((out / config.SITE_MANIFEST).read_text())["pages"] == {"index.html": "index.html-2",
                                                                               "nodes/a.html": "nodes/a.html-1"}


def test_a_result_computed_for_a_publish_is_reused_by_the_next_and_dropped_when_unused(tmp_path):
    first = SiteWriter(tmp_path)
    assert first.remembered("series-1", lambda: [{"magnitude": "4.0%"}]) == [{"magnitude": "4.0%"}]
    first.remembered("series-2", lambda: [])
    first.finish()
    second = SiteWriter(tmp_path)
    assert second.remembered("series-1", lambda: pytest.fail("computed again")) == [{"magnitude": "4.0%"}]
    second.finish()
    assert SiteWriter(tmp_path).cached == {"series-1": [{"magnitude": "4.0%"}]}  # series-2 was not asked for
    assert SiteWriter(tmp_path, force=True).cached == {}


def test_a_folder_that_was_not_published_into_is_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("mine")
    with pytest.raises(OutputError, match="did not write"):
        SiteWriter(tmp_path)
    with pytest.raises(OutputError, match="is a file"):
        SiteWriter(tmp_path / "mine.txt")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / config.SITE_MANIFEST).write_text('{"tool": "someone else"}')
    with pytest.raises(OutputError, match="not a `bench publish` manifest"):
        SiteWriter(tmp_path / "other")


def test_the_ratio_to_the_fleet_is_the_fleet_reports_as_a_throughput_ratio():
    from bench.render.site.publish import Site, fleet_ratios

    site = Site(engine=None, writer=None, database="", published="", code="")
    site.latest = {("a", "F", "c"): ("t", 100.0), ("b", "F", "c"): ("t", 100.0), ("d", "F", "c"): ("t", 75.0),
                   ("e", "G", "c"): ("t", 50.0)}
    site.node_cases = {("d", "F"): [{"case_key": "c", "fleet_ratio": None}]}
    ratios = fleet_ratios(site)
    # two others each: every node against the fleet's middle value (100), not halfway to d; e alone on its hardware
    assert ratios[("d", "F", "c")] == pytest.approx(0.75) and ratios[("a", "F", "c")] == pytest.approx(1.0)
    assert ratios[("e", "G", "c")] is None and site.node_cases[("d", "F")][0]["fleet_ratio"] == pytest.approx(0.75)


def test_publish_refuses_a_database_file_that_does_not_exist(tmp_path, capsys):
    from bench.__main__ import main
    from tests.conftest import usage_error

    line = usage_error(main, ["publish", "--db", str(tmp_path / "typo.db"), "--out", str(tmp_path / "site")], capsys)
    assert "no such database file" in line
    assert not (tmp_path / "typo.db").exists() and not (tmp_path / "site").exists()
