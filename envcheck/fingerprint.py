"""A hardware fingerprint: what must match for two measurements to be comparable (docs/measurement.md, rule 13).

Baselines and cached matmul ceilings are keyed by it, never by a name: two VMs that
both call their CPU "AMD EPYC", one with AVX-512 and bf16 and one with AVX2 only, have
different fingerprints. Software (torch, CUDA) is not part of it: comparing software
on the same hardware is what compare is for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

from envcheck.facts import Facts


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def device_name(facts: Facts, device: str) -> str:
    """The device's model as a slug, e.g. 'nvidia-h200' or 'cpu-amd-epyc-7763'."""
    if device.startswith("cuda") and facts.gpus:
        return slug(facts.gpus[0].name)
    return "cpu-" + slug(facts.cpu.model or "unknown")


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    device: str  # cpu or cuda
    name: str  # device_name()
    fields: tuple[tuple[str, str], ...]  # what is hashed, in order, for people and diffs

    @property
    def id(self) -> str:
        text = "\n".join(f"{key}={value}" for key, value in self.fields)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"

    def differences(self, other: Fingerprint) -> list[tuple[str, str | None, str | None]]:
        mine, theirs = dict(self.fields), dict(other.fields)
        keys = list(dict.fromkeys([*mine, *theirs]))
        return [(key, mine.get(key), theirs.get(key)) for key in keys if mine.get(key) != theirs.get(key)]


def gib(value: int | None) -> str:
    return "?" if value is None else f"{round(value / 2**30)} GiB"


def hardware_fingerprint(facts: Facts, device: str) -> Fingerprint:
    kind = "cuda" if device.startswith("cuda") else "cpu"
    cpu = facts.cpu
    fields = [
        ("device", kind),
        ("cpu", cpu.model or "?"),
        ("cores", str(cpu.logical_cores or "?")),
        ("isa", ",".join(cpu.flags) or "?"),
        ("onednn max isa", facts.env.get("ONEDNN_MAX_CPU_ISA", "default")),
        ("aten cpu capability", facts.env.get("ATEN_CPU_CAPABILITY", "default")),
        ("memory", gib(cpu.ram_bytes)),
    ]
    if kind == "cuda":
        names = sorted({gpu.name for gpu in facts.gpus})
        driver = (facts.nvml.driver_version or "?").split(".")[0]
        fields += [("gpu", f"{', '.join(names) or '?'} x{len(facts.gpus)}"),
                   ("gpu memory", gib(facts.gpus[0].memory_bytes) if facts.gpus else "?"),
                   ("driver major", driver)]
    return Fingerprint(kind, device_name(facts, device), tuple(fields))
