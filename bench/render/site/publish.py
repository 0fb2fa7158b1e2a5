"""`bench publish`: read the results database, decide nothing new, and write the site.

Pages: index.html (overview: fleet health, latest regressions and change points, machines), cases.html and
cases/<case>.html (throughput over time per node with change points), nodes/<node>.html (verdicts, cases against
their history and their fleet, micro-benchmarks), fleet.html (heat map), compare/index.html and compare/<pair>.html.
The figures come from the analysis that the command line uses: change points from bench.store.history
(bench/analysis/changes.py), comparisons from bench.analysis.compare with the drift `bench compare` counts, ratios to
the fleet from bench.analysis.fleet (as `bench fleet report`). Cases are read one at a time, so a large store is
never held whole.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import statistics
from pathlib import Path

from markupsafe import Markup
from sqlalchemy.engine import Engine

from bench import config
from bench.render.common import rate, seconds
from bench.render.history import describe_differences
from bench.render.site import figures
from bench.render.site.html import ASSETS, code_digest, render, slug, when
from bench.render.site.output import SiteWriter, digest
from bench.store import site_data
from bench.store.history import Series, SeriesChange, series_changes

MICRO_EMPTY = ("No micro-benchmark of this node in the database: run `python -m bench micro` (or a fleet tier) "
               "on it to set its memory, link and launch figures beside its datasheet.")


@dataclasses.dataclass(frozen=True)
class PublishSummary:
    out: Path
    written: list[str]
    unchanged: list[str]
    removed: list[str]
    nodes: int
    cases: int
    comparisons: int


def safe_json(data) -> Markup:
    """JSON for a <script type="application/json"> (as Jinja's tojson: no '<', '>', '&' or "'" left, so no
    string inside can end the script element)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return Markup(text)


def node_page(host: str, fingerprint: str) -> str:
    return f"nodes/{slug(host, fingerprint)}.html"


def case_page(case: str) -> str:
    return f"cases/{slug(case)}.html"


def ratio_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}x"


def context_text(context: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in context.items())


@dataclasses.dataclass
class Site:
    """What one publish gathers while it walks the cases, for the pages written after them."""

    engine: Engine
    writer: SiteWriter
    database: str
    published: str
    code: str = dataclasses.field(default_factory=code_digest)
    nodes: dict[tuple[str, str], site_data.Node] = dataclasses.field(default_factory=dict)
    node_cases: dict[tuple[str, str], list[dict]] = dataclasses.field(default_factory=dict)
    latest: dict[tuple[str, str, str], tuple[str, float]] = dataclasses.field(default_factory=dict)
    changes: list[dict] = dataclasses.field(default_factory=list)
    case_rows: list[dict] = dataclasses.field(default_factory=list)
    series_total: int = 0
    invocation_index: dict[str, int] = dataclasses.field(default_factory=dict)  # its place in assets/invocations.js
    invocations: dict[int, site_data.Invocation] = dataclasses.field(default_factory=dict)  # by its id in the store
    setups: dict[str, str] = dataclasses.field(default_factory=dict)  # invocation key -> its matrix setup's label
    reports: dict[str, object] = dataclasses.field(default_factory=dict)  # invocation key -> its stored Report

    def page(self, name: str, template: str, title: str, **context) -> None:
        root = "../" * name.count("/")
        context = {"title": title, "database": self.database, "root": root, "plots": False, "invocations": False,
                   **context}
        key = digest(self.code, name, context)
        self.writer.page(name, key, lambda: render(template, published=self.published, **context))

    def changes_of(self, found: list[Series]) -> list[dict]:
        """Change-point rows of every series: those of a series whose invocations are the same as at the last
        publish come from its manifest (stored results never change), the others are computed (about 0.3 ms a
        100-point series: in this process, as worker processes spent more on sending series than on finding)."""
        rows = []
        for one in found:
            rows += self.writer.remembered(series_key(self.code, one), lambda one=one: changes_of(one))
        return rows

    def report(self, invocation_key: str):
        """A stored report through the report model, read once per publish (comparisons and micro tables)."""
        if invocation_key not in self.reports:
            self.reports[invocation_key] = site_data.stored_report(self.engine, invocation_key)
        return self.reports[invocation_key]

    def node_link(self, host: str, fingerprint: str) -> str | None:
        return node_page(host, fingerprint) if (host, fingerprint) in self.nodes else None


def change_row(change: SeriesChange) -> dict:
    point = change.point
    slower = change.magnitude > 0
    what = describe_differences(change.differences) or "no software or host change recorded there"
    return {"started": point.started, "case": change.series.case_key, "case_page": case_page(change.series.case_key),
            "host": point.hostname, "fingerprint": change.series.fingerprint,
            "magnitude": f"{abs(change.magnitude):.1%}", "slower": slower,
            "before": seconds(change.before_s), "after": seconds(change.after_s), "pvalue": f"{change.pvalue:.1g}",
            "what": what, "invocation": point.invocation_key, "items_per_s": point.items_per_s,
            "label": f"{change.magnitude:+.1%} step time: {what}",
            "short": f"{change.magnitude:+.1%} " + (describe_differences(
                [d for d in change.differences if d[0] != "host"]) or "")}


def history_ratio(points: list) -> float | None:
    """The latest measured throughput against the median of the previous SITE_HISTORY_POINTS ones."""
    previous = [p.items_per_s for p in points[-1 - config.SITE_HISTORY_POINTS:-1] if p.items_per_s]
    latest = points[-1].items_per_s
    return latest / statistics.median(previous) if previous and latest else None


def node_series(one: Series, setups: dict[str, str]) -> list[tuple[str, Series]]:
    """The store's series split by host and by the setup of a matrix (``setups``: invocation key -> its setup
    label, '' outside a matrix), each with that setup's label. A fingerprint's series interleaves every node of
    a fleet, and one node's speed says nothing of its neighbour's; a matrix measures torch 2.11 and 2.14 at one
    start: change points are looked for along one node's results of one setup."""
    split: dict[tuple[str | None, str], list] = {}
    for point in one.points:
        split.setdefault((point.hostname, setups.get(point.invocation_key, "")), []).append(point)
    return [(label, Series(one.history_key, one.case_key, one.fingerprint, one.context, points))
            for (_, label), points in split.items()]


def series_key(code: str, one: Series) -> str:
    """What a series' change points depend on: its invocations (a stored result never changes) and the site's code."""
    first = one.points[0]
    text = "\n".join([code, one.history_key, first.hostname or "", *(p.invocation_key for p in one.points)])
    return hashlib.sha256(text.encode()).hexdigest()


def changes_of(one: Series) -> list[dict]:
    """The change points of one node's series as the site's rows."""
    return [change_row(change) for change in series_changes(one)]


def node_entry(case: str, one: Series, context: str) -> dict:
    """A node's latest result of a case, for its page (the fleet ratio is filled in once every case is read)."""
    measured, last = one.measured, one.points[-1]
    return {"case": case + (f" ({context})" if context else ""), "case_key": case, "page": case_page(case),
            "started": last.started, "status": last.status + (" (noisy)" if last.noisy else ""),
            "throughput": f"{rate(measured[-1].items_per_s)} {measured[-1].unit or ''}/s" if measured else "-",
            "history_ratio": history_ratio(measured) if measured else None, "fleet_ratio": None,
            "invocation": measured[-1].invocation_key if measured else None}


def publish_case(site: Site, case: str) -> None:
    found = site_data.case_series(site.engine, case, site.invocations)
    lines, series_rows, nodes = [], [], []
    unit = next((p.unit for one in found.series for p in one.measured if p.unit), "items")
    for one in found.series:
        context = context_text(one.context)
        for setup, mine in node_series(one, site.setups):
            nodes.append(mine)
            host = mine.points[0].hostname
            labels = " ".join(part for part in (setup, context) if part)
            site.node_cases.setdefault((host, one.fingerprint), []).append(node_entry(case, mine, labels))
            measured = [p for p in mine.measured if p.items_per_s]
            if not measured:
                continue
            key = (host, one.fingerprint, case)
            if key not in site.latest or site.latest[key][0] < measured[-1].started:
                site.latest[key] = (measured[-1].started, measured[-1].items_per_s)
            lines.append({"name": f"{host}{' ' + setup if setup else ''} "
                                  f"({one.fingerprint[:12]}{', ' + context if context else ''})",
                          "group": f"{one.history_key} {setup}", "points": [
                              (p.started, p.items_per_s, p.run_spread_cv, p.noisy,
                               site.invocation_index[p.invocation_key]) for p in measured]})
        measured_all = one.measured
        series_rows.append({"fingerprint": one.fingerprint, "context": context,
                            "nodes": [{"host": h, "page": node_page(h, one.fingerprint)} for h in
                                      dict.fromkeys(p.hostname for p in one.points)],
                            "points": len(one.points), "measured": len(measured_all),
                            "noisy": len(measured_all) - len(one.quiet), "first": one.points[0].started,
                            "last": one.points[-1].started,
                            "latest": rate(measured_all[-1].items_per_s) if measured_all else "-"})
    change_rows = sorted((dict(row) for row in site.changes_of(nodes)), key=lambda row: row["started"])
    for row in change_rows:
        row["node_page"] = site.node_link(row["host"], row["fingerprint"])
        row["index"] = site.invocation_index[row["invocation"]]
    site.changes += change_rows
    site.series_total += len(nodes)
    measured = sum(len(line["points"]) for line in lines)
    figure = figures.case_figure(lines, change_rows, unit) if measured else None
    site.case_rows.append({"case": case, "page": case_page(case), "series": len(found.series), "nodes": len(nodes),
                           "points": measured, "changes": len(change_rows),
                           "last": max((s.points[-1].started for s in found.series), default=None)})
    site.page(case_page(case), "case.html", f"case {case}", plots=True, invocations=True, measured=measured,
              figure=safe_json(figure) if figure else "", height=460 + 14 * min(len(lines), config.SITE_MAX_BANDS),
              lines=len(lines), max_bands=config.SITE_MAX_BANDS,
              changes=list(reversed(change_rows)), series=series_rows)


def fleet_ratios(site: Site) -> dict[tuple[str, str, str], float | None]:
    """Each node's latest throughput on a case over its fleet's centre, as `bench fleet report` computes it
    (bench.analysis.fleet.ratios_to_fleet: the median of the *other* nodes of its fingerprint, so that in a small
    fleet the outlier does not pull its own reference), inverted to a throughput ratio (> 1: faster); None where the
    node has no peer on that case."""
    from bench.analysis.fleet import NodeRuns, ratios_to_fleet

    steps: dict[tuple[str, str], dict[str, tuple[float]]] = {}
    for (host, fingerprint, case), (_, items_per_s) in site.latest.items():
        steps.setdefault((host, fingerprint), {})[case] = (1.0 / items_per_s,)  # a step per item: same ratio
    names = {f"{host}\x00{fingerprint}": (host, fingerprint) for host, fingerprint in steps}  # unique over fleets
    cells = ratios_to_fleet([NodeRuns(name, key[1], (), steps[key]) for name, key in names.items()])
    ratios: dict[tuple[str, str, str], float | None] = {key: None for key in site.latest}
    for cell in cells:
        host, fingerprint = names[cell.node]
        ratios[(host, fingerprint, cell.case)] = 1.0 / cell.ratio if cell.ratio else None
    for (host, fingerprint), entries in site.node_cases.items():
        for entry in entries:
            entry["fleet_ratio"] = ratios.get((host, fingerprint, entry["case_key"]))
    return ratios


def node_scores(ratios: dict) -> dict[tuple[str, str], float]:
    """How far each node is from its fleet: its largest |log ratio| over the cases (absent: no fleet to judge by)."""
    scores: dict[tuple[str, str], float] = {}
    for (host, fingerprint, _), ratio in ratios.items():
        if ratio:
            scores[(host, fingerprint)] = max(scores.get((host, fingerprint), 0.0), abs(math.log(ratio)))
    return scores


def publish_fleet(site: Site, ratios: dict) -> dict[tuple[str, str], dict]:
    by_node: dict[tuple[str, str], dict[str, float]] = {}
    for (host, fingerprint, case), ratio in ratios.items():
        if ratio is not None:
            by_node.setdefault((host, fingerprint), {})[case] = ratio
    outside = config.SITE_OUTLIER_PCT / 100
    rows = []
    for (host, fingerprint), cases in by_node.items():
        worst = max(cases, key=lambda c: abs(math.log(cases[c])))
        rows.append({"host": host, "fingerprint": fingerprint, "page": node_page(host, fingerprint),
                     "score": abs(math.log(cases[worst])), "worst_case": worst, "worst_ratio": ratio_text(cases[worst]),
                     "outliers": sum(1 for r in cases.values() if abs(r - 1) > outside)})
    rows.sort(key=lambda r: (-r["score"], r["host"], r["fingerprint"]))
    columns = sorted({case for cases in by_node.values() for case in cases})
    matrix = [[by_node[(r["host"], r["fingerprint"])].get(case) for case in columns] for r in rows]
    hosts = [row["host"] for row in rows]
    for row in rows:  # a row's label: its host, and its fingerprint where two nodes share the host name
        row["label"] = row["host"] + (f" ({row['fingerprint'][:12]})" if hosts.count(row["host"]) > 1 else "")
    figure = figures.heatmap_figure(rows, columns, matrix) if rows else None
    for row in rows:
        del row["score"]
    site.page("fleet.html", "fleet.html", "Fleet heat map", plots=bool(rows), rows=rows,
              figure=safe_json(figure) if figure else "", height=300 + 22 * len(rows),
              outlier_pct=f"{config.SITE_OUTLIER_PCT:g}")
    return {(r["host"], r["fingerprint"]): r for r in rows}


@dataclasses.dataclass(frozen=True)
class Pair:
    kind: str  # matrix, torch, machines
    title: str
    base: site_data.Invocation
    new: site_data.Invocation

    @property
    def page(self) -> str:
        return f"compare/{slug(self.kind, self.base.key, self.new.key, length=20)}.html"


def comparison_pairs(invocations: list[site_data.Invocation], ratios: dict) -> list[Pair]:
    """The setups of each matrix invocation against its first; each node's latest torch version against the one
    before; on each fingerprint, its node furthest from the fleet against the node nearest the fleet's centre."""
    pairs: list[Pair] = []
    groups: dict[tuple[str, str, str], list[site_data.Invocation]] = {}
    by_node: dict[tuple[str, str], list[site_data.Invocation]] = {}
    for inv in invocations:
        groups.setdefault((inv.started, inv.fingerprint, inv.hostname), []).append(inv)
        by_node.setdefault((inv.hostname, inv.fingerprint), []).append(inv)
    for (started, _, host), members in groups.items():
        if len(members) > 1:
            members = sorted(members, key=lambda i: (i.setup_label or i.label or "", i.key))
            for other in members[1:]:
                pairs.append(Pair("matrix", f"{host} {when(started)}: {other.setup_label or other.label} against "
                                            f"{members[0].setup_label or members[0].label}", members[0], other))
    for (host, _), members in by_node.items():
        latest: dict[str | None, site_data.Invocation] = {}
        for inv in members:
            latest[inv.software.torch] = inv
        if len(latest) > 1:
            ordered = sorted(latest.values(), key=lambda i: (i.started, i.key))
            base, new = ordered[-2], ordered[-1]
            if base.started != new.started:  # one invocation: its matrix pair says it already
                pairs.append(Pair("torch", f"{host}: torch {new.software.torch} against torch {base.software.torch}",
                                  base, new))
    fleets: dict[str, list[tuple[float, str]]] = {}
    for (host, fingerprint), score in node_scores(ratios).items():
        if (host, fingerprint) in by_node:
            fleets.setdefault(fingerprint, []).append((score, host))
    for fingerprint, scored in sorted(fleets.items()):
        if len(scored) > 1:
            scored.sort()
            centre, outlier = scored[0][1], scored[-1][1]
            pairs.append(Pair("machines", f"{outlier} against {centre} (fingerprint {fingerprint[:12]})",
                              by_node[(centre, fingerprint)][-1], by_node[(outlier, fingerprint)][-1]))
    return pairs


def side_text(inv: site_data.Invocation, report) -> str:
    return (f"{inv.hostname}, {report.device_name}, torch {inv.software.torch or '-'}, "
            f"setup {inv.setup_label or inv.label or '-'}, started {when(inv.started)} UTC, invocation {inv.key[:16]}")


def comparison_context(pair: Pair, base, new) -> tuple[dict, object]:
    """compare_reports on the two stored reports, with the drift and thresholds `bench compare` uses."""
    from bench.analysis.baselines import BASELINES, drift_between
    from bench.analysis.compare import CompareRequest, Verdict, compare_reports
    from bench.render.common import fmt
    from bench.render.compare import interval, tells

    comparison = compare_reports([base], new, base_name="base", new_name="new",
                                 drift=drift_between(base, new, BASELINES), **CompareRequest().thresholds())
    rows = [{"case": row.key, "base": rate(row.base_items_per_s), "new": rate(row.new_items_per_s),
             "ratio": fmt(row.estimate.ratio if row.estimate else None, ".3f"), "interval": interval(row),
             "tells": tells(row), "runs": f"{row.estimate.n_base}/{row.estimate.n_new}" if row.estimate else "-",
             "verdict": row.verdict.value, "why": row.why} for row in comparison.cases]
    counts = ", ".join(f"{comparison.count(v)} {v.value}" for v in Verdict if comparison.count(v))
    files = [f"EXPORT/{report.machine_id}/{inv.key[:16]}.json" for inv, report in ((pair.base, base), (pair.new, new))]
    command = f"python -m bench db export --out EXPORT && python -m bench compare {' '.join(files)}"
    context = {"base": {"describe": side_text(pair.base, base)}, "new": {"describe": side_text(pair.new, new)},
               "basis": comparison.basis, "command": command,
               "differences": [[label, str(b), str(n)] for label, b, n in comparison.differences], "rows": rows,
               "caption": (f"ratio = new/base throughput, from each run's median step; interval = the one-sided "
                           f"bounds the verdict used, Holm-adjusted over the cases (family-wise {comparison.alpha:g}); "
                           f"slower: upper bound below {1 - comparison.slower_pct / 100:.3g}; same: lower bound above "
                           f"{1 - comparison.margin_pct / 100:.3g}; tells = the smallest change this spread can tell"),
               "summary": f"{len(comparison.cases)} cases compared, {comparison.decided} decided: {counts or 'none'}",
               "only": [f"only in {name}: " + ", ".join(keys) for name, keys in
                        (("base", comparison.only_base), ("new", comparison.only_new)) if keys]}
    return context, comparison


def publish_comparisons(site: Site, pairs: list[Pair]) -> tuple[dict[tuple[str, str], list[dict]], int]:
    from bench.analysis.compare import Verdict
    from bench.results.report import ReportError
    from envcheck.codec import DecodeError

    rows, per_node = [], {}
    for pair in pairs:
        try:
            context, comparison = comparison_context(pair, site.report(pair.base.key), site.report(pair.new.key))
        except (ReportError, DecodeError, ValueError):
            continue  # a stored report the model refuses (db export names it) or an unreadable baseline set
        if not comparison.cases:
            continue
        site.page(pair.page, "compare.html", f"compare: {pair.title}", **context)
        row = {"kind": pair.kind, "title": pair.title, "page": pair.page.removeprefix("compare/"),
               "cases": len(comparison.cases), "slower": comparison.count(Verdict.SLOWER),
               "same": comparison.count(Verdict.SAME), "faster": comparison.count(Verdict.FASTER),
               "undecided": len(comparison.undecided)}
        rows.append(row)
        for inv in (pair.base, pair.new):
            per_node.setdefault((inv.hostname, inv.fingerprint), []).append({"title": pair.title, "page": pair.page})
    site.page("compare/index.html", "compare_index.html", "Comparisons", comparisons=rows)
    return per_node, len(rows)


def micro_rows(site: Site, cases: list[dict]) -> list[dict]:
    """The node's latest micro-benchmark figures (GB/s, us, TFLOP/s) beside its GPU's datasheet, as `bench micro`
    prints them (bench.results.limits), from the stored report of each one's latest invocation; then the matmul
    ceilings of the newest of those reports. Its fleet and history ratios are the case table's."""
    from bench.render.micro import datasheet_text, figure_text
    from bench.results.limits import report_figures
    from bench.results.report import ReportError
    from envcheck.codec import DecodeError

    rows, newest = [], None
    for entry in cases:
        if not entry["case_key"].startswith("micro-") or not entry["invocation"]:
            continue
        try:
            report = site.report(entry["invocation"])
        except (ReportError, DecodeError, ValueError):
            continue  # a stored report the model refuses: `bench db export` names it
        figure = next((f for f in report_figures(report) if f.name == entry["case_key"]), None)
        if figure is None:
            continue
        rows.append({"name": entry["case"], "measured": figure_text(figure.value, figure.unit),
                     "datasheet": datasheet_text(figure), "fleet": entry["fleet"], "history": entry["history"]})
        if newest is None or entry["started"] > newest[0]:
            newest = (entry["started"], report)
    if newest is not None:
        rows += [{"name": f"matmul {f.name.removeprefix('ceiling ')}", "measured": figure_text(f.value, f.unit),
                  "datasheet": datasheet_text(f), "fleet": "-", "history": "-"}
                 for f in report_figures(newest[1]) if f.name.startswith("ceiling ")]
    return rows


def publish_node(site: Site, node: site_data.Node, peers: int, comparisons: list[dict]) -> None:
    cases = sorted(site.node_cases.get(node.key, []), key=lambda c: c["case"])
    for entry in cases:
        entry["history"] = ratio_text(entry["history_ratio"])
        entry["fleet"] = ratio_text(entry["fleet_ratio"])
    changes = [row for row in site.changes if row["host"] == node.hostname and row["fingerprint"] == node.fingerprint]
    envcheck = node.last_envcheck
    site.page(node_page(*node.key), "node.html", f"node {node.hostname}", plots=bool(cases),
              node={"host": node.hostname, "fingerprint": node.fingerprint, "device": node.device,
                    "device_name": node.hardware, "fields": [[str(k), str(v)] for k, v in node.fields],
                    "first_seen": node.first_seen, "last_seen": node.last_seen, "invocations": node.invocations,
                    "peers": peers},
              verdicts=[{"started": v.started, "verdict": v.verdict, "invocation": v.invocation_key[:16],
                         "reasons": "; ".join(v.reasons)} for v in reversed(node.verdicts)],
              envcheck=dataclasses.asdict(envcheck) if envcheck else None,
              envcheck_history=[{"created": e.created, "verdict": e.verdict} for e in node.envchecks],
              cases=cases, figure=safe_json(figures.node_figure(cases)) if cases else "",
              height=160 + 30 * len(cases), history_points=config.SITE_HISTORY_POINTS,
              changes=list(reversed(changes)), micro=micro_rows(site, cases), micro_empty=MICRO_EMPTY,
              comparisons=comparisons)


def publish_overview(site: Site, ratios: dict) -> None:
    nodes = list(site.nodes.values())
    outside = config.SITE_OUTLIER_PCT / 100
    off = {}
    for (host, fingerprint, _), ratio in ratios.items():
        if ratio is not None and abs(ratio - 1) > outside:
            off[(host, fingerprint)] = off.get((host, fingerprint), 0) + 1
    verdicts: dict[str, int] = {}
    envchecks: dict[str, int] = {}
    for node in nodes:
        name = node.last_verdict.verdict if node.last_verdict else "no verdict"
        verdicts[name] = verdicts.get(name, 0) + 1
        check = node.last_envcheck.verdict if node.last_envcheck else "no envcheck"
        envchecks[check] = envchecks.get(check, 0) + 1
    cards = [{"figure": len(nodes), "what": "nodes"},
             {"figure": len({n.fingerprint for n in nodes}), "what": "hardware fingerprints"},
             {"figure": len(site.case_rows), "what": "cases"},
             {"figure": sum(n.invocations for n in nodes), "what": "invocations"}]
    cards += [{"figure": count, "what": f"nodes: last verdict {name}"} for name, count in sorted(verdicts.items())]
    cards += [{"figure": count, "what": f"nodes: last envcheck {name}"} for name, count in sorted(envchecks.items())]
    cards.append({"figure": len(off), "what": f"nodes off their fleet by > {config.SITE_OUTLIER_PCT:g} %"})
    latest = sorted(site.changes, key=lambda row: row["started"], reverse=True)
    machines = [{"host": n.hostname, "page": node_page(*n.key), "fingerprint": n.fingerprint,
                 "device_name": n.hardware, "last_seen": n.last_seen, "invocations": n.invocations,
                 "verdict": n.last_verdict.verdict if n.last_verdict else None,
                 "envcheck": n.last_envcheck.verdict if n.last_envcheck else None, "outliers": off.get(n.key, 0)}
                for n in sorted(nodes, key=lambda n: n.last_seen, reverse=True)]
    site.page("index.html", "overview.html", "torchrig results", cards=cards,
              regressions=[row for row in latest if row["slower"]][:config.SITE_LATEST_CHANGES // 2],
              changes=latest[:config.SITE_LATEST_CHANGES], change_total=len(latest), series_total=site.series_total,
              machines=machines, outlier_pct=f"{config.SITE_OUTLIER_PCT:g}")


def invocations_script(invocations: list[site_data.Invocation]) -> str:
    """Every invocation once, for the hover of the points it measured (a point carries its index here)."""
    table = [{"key": inv.key[:16], "kind": inv.kind, "started": when(inv.started), "host": inv.hostname,
              "label": inv.setup_label or inv.label, "torch": inv.software.torch, "cuda": inv.software.cuda,
              "driver": inv.software.driver, "argv": inv.argv} for inv in invocations]
    return f"window.TORCHRIG_INVOCATIONS = {safe_json(table)};\n"  # no '<' in it, as in a page


def publish_assets(site: Site, invocations: list[site_data.Invocation]) -> None:
    import plotly.offline

    plotly_js = plotly.offline.get_plotlyjs()
    assets = {"assets/plotly.min.js": plotly_js, "assets/invocations.js": invocations_script(invocations),
              **{f"assets/{name}": (ASSETS / name).read_text(encoding="utf-8") for name in ("site.js", "site.css")}}
    for name, text in assets.items():
        site.writer.page(name, digest(name, text), lambda text=text: text)


def publish(engine: Engine, out: Path, *, database: str, force: bool = False,
            published: str | None = None) -> PublishSummary:
    """Write (or bring up to date) the site for ``engine``'s database in ``out``. OutputError when ``out`` is not
    ours to write or cannot be written."""
    published = published or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return publish_site(Site(engine, SiteWriter(out, force), database, published))


def publish_site(site: Site) -> PublishSummary:
    engine, out = site.engine, site.writer.out
    site.nodes = {node.key: node for node in site_data.nodes(engine)}
    invocations = site_data.invocations(engine)
    site.invocation_index = {inv.key: index for index, inv in enumerate(invocations)}
    site.invocations = {inv.id: inv for inv in invocations}
    site.setups = {inv.key: inv.setup_label or "" for inv in invocations}
    publish_assets(site, invocations)
    cases = site_data.case_keys(engine)
    for case in cases:
        publish_case(site, case)
    site.page("cases.html", "cases.html", "Cases", cases=site.case_rows)
    ratios = fleet_ratios(site)
    publish_fleet(site, ratios)
    comparisons, compared = publish_comparisons(site, comparison_pairs(invocations, ratios))
    fleet_size: dict[str, int] = {}
    for node in site.nodes.values():
        fleet_size[node.fingerprint] = fleet_size.get(node.fingerprint, 0) + 1
    for node in site.nodes.values():
        publish_node(site, node, fleet_size[node.fingerprint] - 1, comparisons.get(node.key, []))
    publish_overview(site, ratios)
    site.writer.finish()
    writer = site.writer
    return PublishSummary(out, writer.written, writer.unchanged, writer.removed, len(site.nodes), len(cases),
                          compared)
