"""`bench publish` on a fixture store (tests/site_store.py): the pages it gives, their links, escaping of untrusted
text, incremental regeneration, and the comparison numbers against `bench compare` (the browser's view of the same
site: tests/integration/test_site_browser.py)."""

from __future__ import annotations

import html
import json
import re
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.render.site.publish import publish
from bench.store import database
from tests import site_store
from tests.conftest import usage_error

# A store filled through `bench db import` and published takes a few seconds: out of the fast phase (the site's
# quick unit tests are tests/unit/test_site_output.py).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("site-store")
    site_store.fill(work / "results.db", work)
    return work / "results.db"


@pytest.fixture(scope="module")
def site(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    assert main(["publish", "--db", str(store), "--out", str(out)]) == 0
    return out


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.json: list[str] = []
        self._json = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("href", "src"):
            if attrs.get(name):
                self.found.append(attrs[name])
        self._json = tag == "script" and attrs.get("type") == "application/json"

    def handle_data(self, data):
        if self._json:
            self.json.append(data)
            self._json = False


def parsed(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


def test_the_site_has_a_page_per_case_node_and_comparison(site):
    found = pages(site)
    assert [p for p in found if "/" not in p] == ["cases.html", "fleet.html", "index.html"]
    assert len([p for p in found if p.startswith("cases/")]) == 2
    assert len([p for p in found if p.startswith("nodes/")]) == len(site_store.NODES)
    # the matrix's two setups; node-a's and node-b's two torch versions; node-d against its fleet's centre
    assert len([p for p in found if p.startswith("compare/") and p != "compare/index.html"]) == 4
    assets = sorted(p.name for p in (site / "assets").iterdir())
    assert assets == ["invocations.js", "plotly.min.js", "site.css", "site.js"]
    import plotly.offline

    assert (site / "assets" / "plotly.min.js").read_text(encoding="utf-8") == plotly.offline.get_plotlyjs()


def test_every_link_resolves_inside_the_site_and_nothing_is_fetched_from_outside(site):
    for name in pages(site):
        for link in parsed(site / name).found:
            assert not re.match(r"[a-z]+://|//", link) or link.startswith("data:"), (name, link)
            if link.startswith("data:"):
                continue
            target = (site / name).parent / link.split("#")[0]
            assert target.resolve().is_file(), (name, link)


def test_untrusted_text_is_shown_as_text_and_json_cannot_close_its_script(site):
    overview = (site / "index.html").read_text(encoding="utf-8")
    assert html.escape(site_store.EVIL_HOST) in overview  # shown, escaped
    for name in [*pages(site), "assets/invocations.js"]:
        text = (site / name).read_text(encoding="utf-8")
        for injection in site_store.INJECTIONS:
            assert injection not in text, (name, injection)
        assert "<img" not in text and "onerror=\"window" not in text
    for name in pages(site):
        for block in parsed(site / name).json:
            assert "<" not in block and ">" not in block  # \u003c: no string can end the <script> element
    # Plotly reads tags in its labels: the evil host reaches it escaped, and shown as the text it is
    case = json.loads(parsed(site / next(p for p in pages(site) if p.startswith("cases/cnn"))).json[0])
    names = [trace["name"] for trace in case["data"] if trace.get("meta")]
    assert html.escape(site_store.EVIL_HOST, quote=False) + " " in " ".join(names)  # then its setup, escaped too
    assert not any(site_store.SCRIPT in name for name in names)
    node_pages = [n for n in pages(site) if n.startswith("nodes/evil")]
    assert len(node_pages) == 1
    evil = (site / node_pages[0]).read_text(encoding="utf-8")
    assert html.escape("driver says " + site_store.SCRIPT) in evil and html.escape("GPU " + site_store.SCRIPT) in evil


def test_the_overview_counts_the_fleet_and_shows_the_change_point_with_what_changed(site):
    overview = (site / "index.html").read_text(encoding="utf-8")
    cards = dict((what, int(figure)) for figure, what in
                 re.findall(r'<div class="figure">(\d+)</div><div class="what">([^<]+)</div>', overview))
    assert cards["nodes"] == 5 and cards["hardware fingerprints"] == 3 and cards["cases"] == 2
    assert cards["nodes: last verdict degraded"] == 1 and cards["nodes: last verdict healthy"] == 1
    assert cards["nodes: last envcheck PASS"] == 1 and cards["nodes: last envcheck WARN"] == 1
    assert cards["nodes off their fleet by &gt; 10 %"] == 1  # node-d, 25 % slower than its fleet's median
    regressions = overview.split("<h2>Latest regressions</h2>")[1].split("<h2>")[0]
    rows = re.findall(r"<tr>\s*<td>([^<]+)</td>\s*<td><a href=\"(cases/[^\"]+)\">([^<]+)</a>.*?</tr>", regressions,
                      re.S)
    assert [(started, case) for started, _, case in rows] == [("2026-11-07 10:00", "cnn-train-eager-fp32-bs64-cpu")]
    assert "torch 2.11.0 -&gt; 2.14.1" in regressions
    assert re.search(r"(9\.[5-9]|10\.[0-5])% slower", regressions)  # a 10 % slower step, within the fixture's noise


def test_the_heat_map_puts_the_outlier_first_with_its_ratio(site):
    fleet = json.loads(parsed(site / "fleet.html").json[0])
    (heat,) = fleet["data"]
    hosts = heat["y"]
    assert hosts[0] == "node-d" and sorted(hosts[1:]) == ["node-b", "node-c"]  # alone on its hardware: not there
    assert all(abs(r - 0.8) < 0.01 for r in heat["z"][0]) and fleet["links"]["node-d"].startswith("nodes/node-d-")
    assert all(abs(r - 1) < 0.02 for row in heat["z"][1:] for r in row)


def rows_of(page: str) -> dict[str, list[str]]:
    table = page.split('id="compare-cases"')[1].split("</table>")[0]
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row,
                                                                                      re.S)]
        found[cells[0]] = cells
    return found


def test_a_comparison_shows_the_numbers_bench_compare_prints(site, store, tmp_path, capsys):
    export = tmp_path / "EXPORT"
    assert main(["db", "export", "--db", str(store), "--out", str(export)]) == 0
    checked = 0
    for page in sorted((site / "compare").glob("*.html")):
        if page.name == "index.html":
            continue
        text = page.read_text(encoding="utf-8")
        command = html.unescape(re.search(r"<code>(python -m bench db export.*?)</code>", text).group(1))
        base, new = (Path(arg.replace("EXPORT", str(export))) for arg in command.split()[-2:])
        capsys.readouterr()
        main(["compare", str(base), str(new)])
        printed = capsys.readouterr().out
        for case, cells in rows_of(text).items():
            line = next(line for line in printed.splitlines() if case in line)
            ratio, interval, verdict = cells[3], cells[4], cells[7]
            assert ratio in line and interval in line and verdict in line, (page.name, cells, line)
            checked += 1
    assert checked == 8  # 4 comparisons x 2 cases


def test_publishing_again_writes_only_what_changed(store, tmp_path, capsys):
    db, out = tmp_path / "copy.db", tmp_path / "site"
    with sqlite3.connect(store) as source, sqlite3.connect(db) as copy:
        source.backup(copy)  # the write-ahead log's pages too
    assert main(["publish", "--db", str(db), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["publish", "--db", str(db), "--out", str(out)]) == 0
    assert "0 file(s) written" in capsys.readouterr().out
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.html")}
    extra = site_store.invocation("node-c", site_store.day(13), {"cnn": 0.020, "mlp": 0.004}, cpu="Fleet CPU")
    site_store.write_files(tmp_path / "extra", [extra])
    assert main(["db", "import", str(tmp_path / "extra"), "--db", str(db)]) == 0
    (out / "cases.html").unlink()
    engine = database.open_engine(database.resolve_url(str(db)))
    summary = publish(engine, out, database=database.display(engine.url))
    engine.dispose()
    written = set(summary.written)
    node_c = next(n for n in written if n.startswith("nodes/node-c-"))
    assert {"index.html", "cases.html", "assets/invocations.js", node_c} <= written
    assert len([n for n in written if n.startswith("cases/")]) == 2
    assert not any(n.startswith(("nodes/node-a-", "nodes/evil")) for n in written)
    assert "assets/plotly.min.js" in summary.unchanged
    # node-c is its fleet's centre: the outlier is now compared with its newer invocation, the old page removed
    (removed,) = summary.removed
    assert removed.startswith("compare/machines-") and not (out / removed).exists()
    assert any(n.startswith("compare/machines-") for n in written)
    untouched = list((out / "nodes").glob("node-a-*.html"))
    assert untouched and all(p.stat().st_mtime_ns == before[p] for p in untouched)


def test_a_folder_publish_did_not_write_is_refused_and_left_alone(store, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    line = usage_error(main, ["publish", "--db", str(store), "--out", str(out)], capsys)
    assert "did not write" in line and (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_matrix_invocation_draws_one_line_per_setup_not_one_line_through_both(site):
    case = json.loads(parsed(site / next(p for p in pages(site) if p.startswith("cases/cnn"))).json[0])
    names = [trace["name"] for trace in case["data"] if trace.get("meta") and trace["name"].startswith("node-b")]
    assert any(name.startswith("node-b torch-2.11 ") for name in names), names
    assert any(name.startswith("node-b torch-2.14 ") for name in names), names
