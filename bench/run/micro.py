"""Micro-benchmark cases for a device, the parent's side: each name resolved to a Case with its size (the
memory buffers sized from this machine's caches and memory), and why a case cannot run here (a host<->device
copy on a CPU, a peer copy with one GPU). No torch: the plan runs before any worker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench import config
from bench.measure.caches import last_level_cache_bytes
from bench.results.cases import Case, micro_unsupported_reason
from bench.results.micro import MIB, get_micro, parse_micro
from envcheck.report import Environment


def buffer_mib(cache_bytes: int | None, memory_bytes: int | None) -> tuple[int, str | None]:
    """One STREAM buffer: MICRO_CACHE_MULTIPLE x the cache, at least MICRO_MIN_BUFFER_MIB, a power of two of MiB,
    at most MICRO_MEMORY_SHARE of the memory; and a note when the memory cap kept it below the cache rule."""
    wanted = max(config.MICRO_MIN_BUFFER_MIB, math.ceil(config.MICRO_CACHE_MULTIPLE * (cache_bytes or 0) / MIB))
    mib = 2 ** math.ceil(math.log2(wanted))
    if memory_bytes:
        cap = 2 ** math.floor(math.log2(max(1, memory_bytes * config.MICRO_MEMORY_SHARE / MIB)))
        if cap < mib:
            return cap, (f"buffer capped at {cap} MiB ({config.MICRO_MEMORY_SHARE:.3g} of {memory_bytes / 2**30:.0f} "
                         f"GiB memory), below {config.MICRO_CACHE_MULTIPLE}x the {(cache_bytes or 0) / MIB:.0f} "
                         "MiB cache")
    return mib, None


def default_size(name: str, device: str, environment: Environment) -> int:
    defaults = config.MICRO_DEFAULTS[device]
    if name not in defaults:  # a GPU's benchmark named on a CPU: its GPU size (it is skipped, not applicable)
        return config.MICRO_DEFAULTS["cuda"][name]
    size = defaults[name]
    if size is not None:
        return size
    facts = environment.facts
    if device == "cuda":
        memory = facts.gpus[0].memory_bytes if facts.gpus else None
        return min(4096, buffer_mib(None, memory)[0]) if memory else 4096
    return buffer_mib(last_level_cache_bytes(), facts.cpu.ram_bytes)[0]


def micro_case(text: str, device: str, environment: Environment) -> Case:
    """The case of one micro name (NAME or NAME:SIZE) on ``device``."""
    name, size = parse_micro(text)
    spec = get_micro(name)
    if size is None:
        size = default_size(name, device, environment) if spec.sized else 1
    case = Case(name, "micro", "eager", "fp32", size, device)
    if spec.distributed:
        gpus = len(environment.facts.gpus)
        ranks = max(gpus, 2) if device == "cuda" else config.MICRO_CPU_RANKS
        case = case.sibling(world_size=ranks, dist_backend="nccl" if device == "cuda" else "gloo")
    return case


def micro_cases(names: Sequence[str], device: str, environment: Environment) -> list[Case]:
    """Each name's case, in order, each once."""
    cases: dict[str, Case] = {}
    for text in names:
        case = micro_case(text, device, environment)
        cases.setdefault(case.key, case)
    return list(cases.values())


def micro_skip(case: Case, environment: Environment) -> str | None:
    """Why a micro case does not run here, or None."""
    facts = environment.facts
    reason = micro_unsupported_reason(case, facts.capabilities(case.device),
                                      len(facts.gpus) if case.device == "cuda" else None)
    if reason is None and case.world_size > 1 and case.device == "cuda" and len(facts.gpus) < case.world_size:
        return f"needs {case.world_size} GPUs (one per rank); this machine has {len(facts.gpus)}"
    return reason
