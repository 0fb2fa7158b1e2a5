"""Benchmark cases: identity (the key that matches a case across reports), suite expansion, and what
a device or an install cannot run. No torch import: the CLI plans with it before anything heavy loads.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence

from bench import config
from bench.results.micro import MICRO_MODE, MicroSpec, get_micro, is_micro, size_label
from envcheck.capabilities import DeviceCapabilities
from models.registry import LLM_INSTALL, REGISTRY, ModelSpec, get_model

DIST_BACKENDS = ("gloo", "nccl")


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
    world_size: int = 1  # processes stepping together under DistributedDataParallel
    dist_backend: str | None = None  # gloo or nccl when world_size > 1

    def __post_init__(self) -> None:
        if is_micro(self.model) != (self.mode == MICRO_MODE):
            raise ValueError(f"mode {MICRO_MODE!r} goes with a micro-benchmark's name, got {self.model!r} in mode "
                             f"{self.mode!r}")
        modes = (*config.MODES, MICRO_MODE) if self.mode == MICRO_MODE else config.MODES
        for name, value, valid in (("mode", self.mode, modes), ("backend", self.backend, config.BACKENDS),
                                   ("precision", self.precision, config.PRECISIONS),
                                   ("device", self.device, ("cpu", "cuda")),
                                   ("data", self.data, config.DATA_SOURCES)):
            if value not in valid:
                raise ValueError(f"case {name} {value!r} is not one of {', '.join(valid)}")
        if self.batch_size < 1 or self.world_size < 1:
            raise ValueError(f"batch size and world size must be >= 1, got {self.batch_size}, {self.world_size}")
        if (self.world_size > 1) != (self.dist_backend in DIST_BACKENDS):
            raise ValueError(f"a world size of {self.world_size} goes with dist_backend "
                             f"{'gloo or nccl' if self.world_size > 1 else 'null'}, got {self.dist_backend!r}")

    @property
    def key(self) -> str:
        """The case's identity as one string: names it in tables and matches it across reports."""
        if self.micro is not None:  # micro-mem-copy-4096MiB-cuda, micro-launch-cpu, micro-allreduce-16MiB-cpu-ddp2-gloo
            parts = ["micro", self.model, size_label(self.micro, self.batch_size), self.device]
            if self.world_size > 1:
                parts.append(f"ddp{self.world_size}-{self.dist_backend}")
            return "-".join(part for part in parts if part)
        parts = [self.model, self.mode, self.backend, self.precision, f"bs{self.batch_size}", self.device]
        if self.channels_last:
            parts.append("cl")
        if self.data != "synthetic-device":
            parts.append(self.data)
        if self.world_size > 1:
            parts.append(f"ddp{self.world_size}-{self.dist_backend}")
        return "-".join(parts)

    @property
    def group(self) -> str:
        """Cases comparable with each other: same workload, other backend or precision."""
        if self.micro is not None:
            return f"micro-{self.model}-{self.device}"
        return f"{self.model}-{self.mode}-bs{self.batch_size}-{self.device}"

    @property
    def micro(self) -> MicroSpec | None:
        """The micro-benchmark this case is (bench/results/micro.py), or None for a model case."""
        return get_micro(self.model) if self.mode == MICRO_MODE else None

    @property
    def spec(self) -> ModelSpec | MicroSpec:
        """The model's spec, or the micro-benchmark's (both say the ``unit`` their items count)."""
        return self.micro or get_model(self.model)

    @property
    def items_per_step(self) -> int:
        """Samples (or tokens, for a language model) one step processes on one process."""
        return self.batch_size * self.spec.items_per_sample

    def sibling(self, **changes) -> Case:
        return dataclasses.replace(self, **changes)


def unsupported_reason(case: Case, caps: DeviceCapabilities, packages: Mapping[str, str]) -> str | None:
    """Why ``case`` cannot run here (device, install, model), or None. Recorded as 'skipped'."""
    if case.micro is not None:
        return micro_unsupported_reason(case, caps)
    spec = case.spec
    if case.mode not in spec.modes:
        return f"{case.model} has no {case.mode} mode (its modes: {', '.join(spec.modes)})"
    missing = spec.missing_packages(packages)
    if missing:
        return f"{case.model} needs {' and '.join(missing)}: {LLM_INSTALL}"
    if case.data != "synthetic-device" and spec.input_shape != (1, 28, 28):
        return f"{case.model} does not take 28x28 digit images ({case.data} data)"
    if case.world_size > 1 and case.mode == "infer":
        return "inference is measured on one process (data-parallel training only)"
    support = caps.support(case.precision)
    if not support.runs:
        return support.reason
    if caps.kind == "cpu" and case.backend == "compile-reduce-overhead":
        return "reduce-overhead uses CUDA graphs, which need CUDA"
    return None


def micro_unsupported_reason(case: Case, caps: DeviceCapabilities, gpus: int | None = None) -> str | None:
    """Why a micro-benchmark cannot run on this device (a host<->device copy on a CPU), or None. The GPU count
    is the plan's to judge (bench/run/micro.py), since capabilities do not hold it."""
    spec = case.micro
    if caps.kind not in spec.devices:
        return (f"not applicable on a {caps.kind.upper()}: {spec.name} measures a GPU "
                f"({'its host-device link' if spec.name[:3] in ('h2d', 'd2h') else 'links between GPUs'})")
    if gpus is not None and gpus < spec.min_gpus:
        return f"needs {spec.min_gpus} GPUs or more; this machine has {gpus}"
    return None


def check_axes(models=None, modes=None, backends=None, precisions=None, batch_sizes=None) -> list[str]:
    """Every configuration error at once (torchtune's habit); an empty given list is an error too."""
    errors: list[str] = []
    for name, given, valid in (("model", models, tuple(REGISTRY)), ("mode", modes, config.MODES),
                               ("backend", backends, config.BACKENDS), ("precision", precisions, config.PRECISIONS)):
        if given is not None and not given:
            errors.append(f"--{name}s is empty; expected a comma list of {', '.join(valid)}")
        for value in given or ():
            if value not in valid:
                errors.append(f"unknown {name} {value!r} (expected one of {', '.join(valid)})")
    if batch_sizes is not None and not batch_sizes:
        errors.append("--batch-sizes is empty; expected a comma list of positive integers")
    for size in batch_sizes or ():
        if not 0 < size <= config.LIMITS["batch_size"]:
            errors.append(f"batch size must be in 1..{config.LIMITS['batch_size']}, got {size}")
    return errors


def expand(suite: config.Suite, device_kind: str, *, models: Sequence[str] | None = None,
           modes: Sequence[str] | None = None, backends: Sequence[str] | None = None,
           precisions: Sequence[str] | None = None, batch_sizes: Sequence[int] | None = None,
           channels_last: bool | None = None, data: str = "synthetic-device") -> list[Case]:
    """The suite's cases for a device; a given axis replaces the suite's value for it.

    A suite lists only the modes a model has; modes given explicitly are taken as asked,
    and a model without one of them gets a skipped case that says so.
    """
    errors = check_axes(models, modes, backends, precisions, batch_sizes)
    if errors:
        raise ConfigError("; ".join(errors))
    defaults = config.DEFAULT_BATCH_SIZES[device_kind]
    blocks = list(suite.blocks[device_kind])
    listed = {model for block in blocks for model in block.models}
    # a model the suite does not list still runs when asked for, with its own modes
    blocks += [config.Block((model,), modes=get_model(model).modes) for model in models or () if model not in listed]
    cases: dict[str, Case] = {}
    for block in blocks:
        for model in [m for m in block.models if m in models] if models else block.models:
            spec = get_model(model)
            block_modes = modes or [m for m in block.modes if m in spec.modes]
            axes = (block_modes, backends or block.backends, precisions or block.precisions,
                    batch_sizes or block.batch_sizes or defaults[model])
            layout = spec.channels_last_on_cuda and device_kind == "cuda" if channels_last is None else channels_last
            for mode, backend, precision, size in itertools.product(*axes):
                case = Case(model, mode, backend, precision, size, device_kind,
                            channels_last=layout and spec.convolutional, data=data)
                cases.setdefault(case.key, case)
    return list(cases.values())
