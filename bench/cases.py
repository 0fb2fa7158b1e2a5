"""Benchmark cases: identity, expansion of a suite into cases, and what a device cannot run."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

from bench import config


class ConfigError(ValueError):
    """Bad run configuration (unknown model, batch size <= 0, ...): exit 2."""


@dataclasses.dataclass(frozen=True)
class Case:
    """What is measured. Two cases with equal identity measure the same thing."""

    model: str
    mode: str
    backend: str
    precision: str
    batch_size: int
    device: str  # "cpu" or "cuda" (device 0)
    channels_last: bool = False
    data: str = "synthetic-device"
    fault: str | None = None  # test-only fault injection: raise, oom, abort, hang

    @property
    def id(self) -> str:
        parts = [self.model, self.mode, self.backend, self.precision, f"bs{self.batch_size}", self.device]
        if self.channels_last:
            parts.append("cl")
        if self.data != "synthetic-device":
            parts.append(self.data)
        return "-".join(parts)

    @property
    def group(self) -> str:
        """Cases comparable with each other: same workload, other backend or precision."""
        return f"{self.model}-{self.mode}-bs{self.batch_size}-{self.device}"

    def identity(self) -> dict:
        """The fields that match a case across reports."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "fault"}


@dataclasses.dataclass(frozen=True)
class DeviceCaps:
    """What a device can run, for skip decisions."""

    kind: str  # cpu or cuda
    capability: tuple[int, int] | None = None  # CUDA compute capability


def unsupported_reason(case: Case, caps: DeviceCaps) -> str | None:
    """Why ``case`` cannot run on this device, or None. Recorded as 'skipped'."""
    if case.data != "synthetic-device":
        from models import get_model

        if get_model(case.model).input_shape != (1, 28, 28):
            return f"{case.model} does not take 28x28 digit images ({case.data} data)"
    if caps.kind == "cpu":
        if case.precision == "tf32":
            return "TF32 is a CUDA (Ampere and newer) matmul mode"
        if case.precision == "amp-fp16":
            return "amp-fp16 with GradScaler is a CUDA mode; the CPU autocasts to bf16"
        if case.backend == "compile-reduce-overhead":
            return "reduce-overhead uses CUDA graphs, which need CUDA"
        return None
    major = caps.capability[0] if caps.capability else 0
    if case.precision in ("tf32", "amp-bf16") and major < 8:
        return f"{case.precision} needs compute capability >= 8.0 (this GPU is {major}.x)"
    return None


def _choose(name: str, given: Sequence[str] | None, valid: Sequence[str], errors: list[str]):
    for value in given or ():
        if value not in valid:
            errors.append(f"unknown {name} {value!r} (expected one of {', '.join(valid)})")


def validate_axes(models=None, modes=None, backends=None, precisions=None, batch_sizes=None) -> None:
    """Collect every configuration error into one message (torchtune's habit)."""
    from models import REGISTRY  # imports torch: only when there is a model to check

    errors: list[str] = []
    _choose("model", models, tuple(REGISTRY), errors)
    _choose("mode", modes, config.MODES, errors)
    _choose("backend", backends, config.BACKENDS, errors)
    _choose("precision", precisions, config.PRECISIONS, errors)
    for size in batch_sizes or ():
        if size <= 0:
            errors.append(f"batch size must be > 0, got {size}")
    if errors:
        raise ConfigError("; ".join(errors))


def expand(suite: config.Suite, device_kind: str, *, models=None, modes=None, backends=None,
           precisions=None, batch_sizes=None, channels_last: bool = False,
           data: str = "synthetic-device") -> list[Case]:
    """The suite's cases for a device; a given axis replaces the suite's value for it."""
    validate_axes(models, modes, backends, precisions, batch_sizes)
    defaults = config.DEFAULT_BATCH_SIZES[device_kind]
    blocks = list(suite.blocks[device_kind])
    listed = {model for block in blocks for model in block.models}
    # a model the suite does not list still runs when asked for, with the default axes
    blocks += [config.Block((model,)) for model in models or () if model not in listed]
    cases: dict[str, Case] = {}
    for block in blocks:
        for model in [m for m in block.models if m in models] if models else block.models:
            axes = (modes or block.modes, backends or block.backends, precisions or block.precisions,
                    batch_sizes or block.batch_sizes or defaults[model])
            for mode, backend, precision, size in itertools.product(*axes):
                case = Case(model, mode, backend, precision, size, device_kind,
                            channels_last=channels_last and model == "cnn", data=data)
                cases.setdefault(case.id, case)
    return list(cases.values())
