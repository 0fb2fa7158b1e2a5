"""The benchmark matrix: software environments declared in pyproject.toml.

[[tool.torchrig.environments]] entries have a name and either a torch/torchvision
pair (plus optional pip_args) or system = true. A broken entry is reported with
what it lacks, and the valid entries still run.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - nox itself depends on tomli on Python 3.10
    import tomli as tomllib


@dataclasses.dataclass(frozen=True)
class Environment:
    name: str
    torch: str | None = None
    torchvision: str | None = None
    pip_args: tuple[str, ...] = ()
    system: bool = False


class MatrixError(ValueError):
    """One or more entries are broken; ``valid`` holds the others."""

    def __init__(self, message: str, valid: list[Environment]) -> None:
        super().__init__(message)
        self.valid = valid


def parse_entry(index: int, entry: object) -> Environment:
    if not isinstance(entry, dict):
        raise ValueError(f"entry {index} is not a table")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"entry {index} has no name")
    unknown = set(entry) - {"name", "torch", "torchvision", "pip_args", "system"}
    if unknown:
        raise ValueError(f"environment {name!r}: unknown keys {sorted(unknown)}")
    if entry.get("system"):
        return Environment(name, system=True)
    missing = [key for key in ("torch", "torchvision") if not isinstance(entry.get(key), str)]
    if missing:
        raise ValueError(f"environment {name!r}: needs {' and '.join(missing)} (a version string) or system = true")
    pip_args = entry.get("pip_args", [])
    if not isinstance(pip_args, list) or not all(isinstance(a, str) for a in pip_args):
        raise ValueError(f"environment {name!r}: pip_args must be a list of strings")
    return Environment(name, entry["torch"], entry["torchvision"], tuple(pip_args))


def load_environments(pyproject: Path) -> list[Environment]:
    """The declared environments in order; MatrixError lists every broken entry."""
    with open(pyproject, "rb") as handle:
        entries = tomllib.load(handle).get("tool", {}).get("torchrig", {}).get("environments", [])
    valid, errors, names = [], [], set()
    for index, entry in enumerate(entries):
        try:
            env = parse_entry(index, entry)
            if env.name in names:
                raise ValueError(f"environment {env.name!r} is declared twice")
        except ValueError as error:
            errors.append(str(error))
            continue
        names.add(env.name)
        valid.append(env)
    if not entries:
        errors.append(f"{pyproject} declares no [[tool.torchrig.environments]]")
    if errors:
        raise MatrixError("broken matrix entries: " + "; ".join(errors), valid)
    return valid
