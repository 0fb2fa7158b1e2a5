"""The site's HTML: a Jinja2 environment with autoescape, page names from untrusted keys, safe plot text."""

from __future__ import annotations

import functools
import hashlib
import html
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
ASSETS = HERE / "assets"


@functools.lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["pct"] = pct
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


def slug(*parts: str, length: int = 60) -> str:
    """A file name for a key from a report: its safe characters, and a digest of the whole so that two keys never
    share a page ('a/b' and 'a-b' differ) and no name can leave the folder."""
    text = "-".join(parts)
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:length] or "page"
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def plot_text(value) -> str:
    """Text for a Plotly label or hover: Plotly reads <b>, <br>, <a href> and others in its strings, so a
    report's text goes in with its markup escaped (Plotly shows entities as the characters)."""
    return html.escape(str(value), quote=False)


def when(stamp: str | None) -> str:
    """'2026-11-30T10:00:00+00:00' -> '2026-11-30 10:00' (UTC)."""
    if not stamp:
        return "-"
    return stamp.replace("T", " ").replace("+00:00", "")[:16]


@functools.lru_cache(maxsize=1 << 18)  # one invocation's start is drawn once per case it measured
def plot_time(stamp: str) -> int | str:
    """A start time as Plotly reads a date axis: milliseconds since the epoch (UTC; shorter in a large site's JSON
    than the date's text), or the text itself if it does not parse."""
    from envcheck.stamps import parse_utc

    moment = parse_utc(stamp)
    return stamp if moment is None else round(moment.timestamp() * 1000)


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:+.{digits}f}%"


def code_digest() -> str:
    """A digest of what turns the store into pages: the site's templates, assets and code, the analysis it calls
    (change points, comparisons, ratios), the store's readers and the defaults (bench/config.py). A page, and a
    cached change point, is made again when any of them changed."""
    bench = HERE.parent.parent
    sources = [*HERE.rglob("*.py"), *TEMPLATES.rglob("*"), *ASSETS.rglob("*"), *(bench / "analysis").glob("*.py"),
               *(bench / "store").glob("*.py"), bench / "config.py"]
    digest = hashlib.sha256()
    for path in sorted(sources):
        if path.is_file():
            digest.update(path.relative_to(bench).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
