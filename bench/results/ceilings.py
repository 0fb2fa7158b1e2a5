"""The device's matmul ceilings (docs/measurement.md, rule 8): the record a run keeps for MFU, how it reads
in a line, and the cache per hardware fingerprint and torch version that spares a run measuring them again
(TORCHRIG_CACHE_DIR, default ~/.cache/torchrig). bench/measure/ceiling.py measures them in a worker.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from envcheck.codec import DecodeError, from_jsonable, read_json, to_jsonable
from envcheck.files import write_json_atomic


@dataclasses.dataclass
class Ceilings:
    """The device's matmul rate per precision (docs/measurement.md, rule 8), for MFU."""

    device: str
    tflops: dict[str, float]
    unmeasured: dict[str, str] = dataclasses.field(default_factory=dict)  # precision -> why not
    source: str = "measured"  # measured, cached (same fingerprint and torch), or given
    sizes: dict[str, int] = dataclasses.field(default_factory=dict)  # the matmul size of each rate


def cache_file() -> Path:
    explicit = os.environ.get("TORCHRIG_CACHE_DIR")
    if explicit:
        return Path(explicit) / "ceilings.json"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torchrig" / "ceilings.json"


def cache_key(fingerprint: str, torch_version: str, device: str) -> str:
    return f"{fingerprint} | torch {torch_version} | {device}"


def read_cache(path: Path) -> dict[str, Ceilings]:
    try:
        return from_jsonable(dict[str, Ceilings], read_json(path))
    except (OSError, DecodeError):  # absent or unreadable: measure again
        return {}


def cached(key: str, precisions: list[str], path: Path | None = None) -> Ceilings | None:
    """The cached ceilings of every precision asked for, or None."""
    entry = read_cache(path or cache_file()).get(key)
    if entry is None or any(p not in entry.tflops for p in precisions):
        return None
    return Ceilings(entry.device, {p: entry.tflops[p] for p in precisions}, {}, "cached",
                    {p: entry.sizes[p] for p in precisions if p in entry.sizes})


def store(key: str, ceilings: Ceilings, path: Path | None = None) -> None:
    """Merge measured ceilings into the cache (best effort: a read-only home only costs time)."""
    path = path or cache_file()
    entries = read_cache(path)
    old = entries.get(key)
    merged = Ceilings(ceilings.device, {**(old.tflops if old else {}), **ceilings.tflops}, {}, "measured",
                      {**(old.sizes if old else {}), **ceilings.sizes})
    entries[key] = merged
    try:
        write_json_atomic(path, to_jsonable(entries))
    except OSError:
        pass


def describe(ceilings: Ceilings) -> str:
    rates = ", ".join(f"{p} {t:g} TFLOP/s" + (f" (n={ceilings.sizes[p]})" if p in ceilings.sizes else "")
                      for p, t in ceilings.tflops.items())
    return f"{rates} [{ceilings.source}]" + (f"; unmeasured: {json.dumps(ceilings.unmeasured)}"
                                              if ceilings.unmeasured else "")
