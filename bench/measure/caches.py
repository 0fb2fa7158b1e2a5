"""The CPU's last-level cache from sysfs, which sizes the memory-bandwidth buffers (bench/run/micro.py) and is
recorded beside them (bench/measure/micro.py). No torch: the parent plans with it."""

from __future__ import annotations

from pathlib import Path

CPU_SYSFS = Path("/sys/devices/system/cpu")


def parse_cache_size(text: str) -> int | None:
    """sysfs's cache size ('491520K', '32M', '1024') in bytes, or None."""
    text = text.strip().upper()
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in ("K", "M", "G") else text
    return int(digits) * scale if digits.isdigit() else None


def last_level_cache_bytes(root: Path = CPU_SYSFS) -> int | None:
    """The CPU's last-level cache, all its instances together (one L3 per socket or CCX), from sysfs; None where
    sysfs says nothing (not Linux). Instances are told apart by the CPUs that share them."""
    instances: dict[tuple[int, str], int] = {}
    for index in root.glob("cpu[0-9]*/cache/index[0-9]*"):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = parse_cache_size((index / "size").read_text())
            shared = (index / "shared_cpu_list").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind in ("Unified", "Data") and size:
            instances[(level, shared)] = size
    if not instances:
        return None
    top = max(level for level, _ in instances)
    return sum(size for (level, _), size in instances.items() if level == top)
