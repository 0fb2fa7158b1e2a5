"""The site's Plotly figures as plain JSON (data and layout), drawn in the browser by the bundled plotly.js.

Every label, legend name and hover text from a report goes through ``plot_text`` (Plotly reads some HTML tags in
its strings). Hover texts of invocations are built in the page from assets/invocations.js (site.js), so that a
case page carries each point's invocation key once instead of its whole description.
"""

from __future__ import annotations

import math

from bench import config
from bench.render.site.html import plot_text, plot_time

HOUR_MS = 3_600_000
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def rounded(value: float, digits: int = 4) -> float:
    """A number to ``digits`` significant digits: a large site's JSON is mostly numbers."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def case_figure(lines: list[dict], changes: list[dict], unit: str) -> dict:
    """Throughput over time, one line per node and series (``lines``: name, group, points of (started, items/s,
    run spread CV, noisy, invocation index)), its run spread as a band (for the first SITE_MAX_BANDS lines: beyond
    that bands hide each other and double the page), change points as dashed lines and markers."""
    total = sum(len(line["points"]) for line in lines)
    kind = "scattergl" if total > config.SITE_WEBGL_POINTS else "scatter"
    data = []
    for index, line in enumerate(lines):
        colour = PALETTE[index % len(PALETTE)]
        points = line["points"]
        x = [plot_time(p[0]) for p in points]
        y = [rounded(p[1]) for p in points]
        if index < config.SITE_MAX_BANDS:
            low = [rounded(p[1] * math.exp(-(p[2] or 0.0))) for p in points]
            high = [rounded(p[1] * math.exp(p[2] or 0.0)) for p in points]
            data.append({"type": kind, "x": x + x[::-1], "y": high + low[::-1], "fill": "toself", "mode": "lines",
                         "line": {"width": 0}, "fillcolor": rgba(colour, 0.18), "hoverinfo": "skip",
                         "legendgroup": line["group"], "showlegend": False,
                         "name": plot_text(line["name"]) + " spread"})
        noisy = [p[3] for p in points]
        data.append({"type": kind, "x": x, "y": y, "mode": "lines+markers", "name": plot_text(line["name"]),
                     "legendgroup": line["group"], "line": {"color": colour, "width": 1.5},
                     "marker": {"color": colour, "size": 6, "symbol": [
                         "circle-open" if n else "circle" for n in noisy] if any(noisy) else "circle"},
                     "customdata": [p[4] for p in points], "meta": {"invocations": True},
                     "hovertemplate": "%{y:.4g} " + plot_text(unit) + "/s<br>%{text}<extra>%{fullData.name}</extra>"})
    shapes, annotations = [], []
    if changes:
        data.append({"type": kind, "x": [plot_time(c["started"]) for c in changes],
                     "y": [rounded(c["items_per_s"]) for c in changes], "mode": "markers", "name": "change points",
                     "marker": {"symbol": "x-thin-open", "size": 14, "color": "#b3261e", "line": {"width": 2}},
                     "customdata": [c["index"] for c in changes],
                     "meta": {"invocations": True, "notes": [plot_text(c["label"]) for c in changes]},
                     "hovertemplate": "%{text}<extra>change point</extra>"})
        for change in changes:
            x = plot_time(change["started"])
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                           "line": {"color": "#b3261e", "width": 1, "dash": "dash"}})
        for change in changes[-20:]:  # the most recent: more would cover the plot
            annotations.append({"x": plot_time(change["started"]), "y": 1, "xref": "x", "yref": "paper",
                                "yanchor": "bottom", "showarrow": False, "textangle": -20,
                                "font": {"size": 10, "color": "#b3261e"}, "text": plot_text(change["short"])})
    times = [x for line in lines for x in (plot_time(p[0]) for p in line["points"]) if isinstance(x, int)]
    xaxis = {"type": "date", "title": {"text": "invocation start (UTC)"}}
    if times and max(times) - min(times) < HOUR_MS:  # one invocation (a matrix's setups share its start): a day
        xaxis["range"] = [min(times) - 12 * HOUR_MS, max(times) + 12 * HOUR_MS]  # around it, not microseconds
    layout = {"margin": {"l": 70, "r": 20, "t": 90, "b": 50}, "hovermode": "closest", "xaxis": xaxis,
              "yaxis": {"type": "log", "title": {"text": plot_text(unit) + "/s (log)"}},
              "legend": {"orientation": "h", "y": -0.2}, "shapes": shapes, "annotations": annotations,
              "showlegend": len(lines) <= config.SITE_MAX_BANDS}  # beyond, a legend is longer than the plot
    return {"data": data, "layout": layout}


def heatmap_figure(rows: list[dict], cases: list[str], ratios: list[list[float | None]]) -> dict:
    """Nodes (rows, outliers first; each with a unique ``label``) x cases, coloured by the ratio to the fleet median,
    with the node page of each row in ``links`` (site.js opens it on a click)."""
    spread = max((abs(r - 1) for row in ratios for r in row if r is not None), default=0.0)
    span = min(max(spread, 0.05), 0.5)
    labels = [plot_text(r["label"]) for r in rows]
    data = [{"type": "heatmap", "z": [[rounded(r, 4) if r is not None else None for r in row] for row in ratios],
             "x": [plot_text(c) for c in cases], "y": labels,
             "hovertemplate": "%{y}<br>%{x}<br>%{z:.3f}x its fleet's median<extra></extra>",
             "zmin": 1 - span, "zmax": 1 + span, "zmid": 1,
             "colorscale": "RdBu", "reversescale": True,  # slower than the fleet (below 1): red
             "xgap": 1, "ygap": 1,
             "colorbar": {"title": {"text": "ratio to fleet median"}}}]
    layout = {"margin": {"l": 180, "r": 20, "t": 20, "b": 220},
              "xaxis": {"type": "category", "tickangle": -45, "side": "bottom"},
              "yaxis": {"type": "category", "autorange": "reversed"}}
    return {"data": data, "layout": layout, "links": dict(zip(labels, (r["page"] for r in rows), strict=True))}


def node_figure(cases: list[dict]) -> dict:
    """A node's cases: how far its latest result is from its own history and from its fleet's median, in %."""
    names = [plot_text(c["case"]) for c in cases]
    data = []
    for key, label, colour in (("history_ratio", "vs its history", "#7f7f7f"),
                               ("fleet_ratio", "vs its fleet", "#1f77b4")):
        values = [rounded((c[key] - 1) * 100, 4) if c[key] is not None else None for c in cases]
        data.append({"type": "bar", "orientation": "h", "name": label, "y": list(range(len(cases))), "x": values,
                     "marker": {"color": colour}, "text": names, "textposition": "none",
                     "hovertemplate": "%{text}: %{x:+.1f}%<extra>" + label + "</extra>"})
    layout = {"barmode": "group", "margin": {"l": 260, "r": 20, "t": 20, "b": 50},
              "xaxis": {"title": {"text": "throughput, % faster (+) or slower (-)"}, "zeroline": True},
              "yaxis": {"tickmode": "array", "tickvals": list(range(len(cases))), "ticktext": names,
                        "autorange": "reversed"},
              "legend": {"orientation": "h", "y": -0.15}}
    return {"data": data, "layout": layout}
