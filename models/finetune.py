"""Fine-tuning helpers: safe checkpoint loading, freezing by name, head replacement.

Follows torchtune's habits: parameters are frozen by name
(``p.requires_grad_(name in trainable)``), checkpoints load with
``torch.load(..., weights_only=True)`` (never an unrestricted unpickle), and the
optimizer only sees trainable parameters. The seed article handed frozen
parameters to Adam and initialised its new head with ``normal_(0.01)`` (a mean
of 0.01, not a standard deviation); both are fixed here.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from models.registry import ModelSpec

HEAD_INIT_STD = 0.01


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded safely or does not fit the model."""


def save_checkpoint(model: nn.Module, path: Path) -> Path:
    """Save only the state dict (tensors), loadable with weights_only=True."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def load_state_dict_safely(path: Path) -> dict[str, torch.Tensor]:
    """Load a state dict of tensors; arbitrary pickled objects are refused."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"refusing to load {path}: not a plain state dict of tensors ({first})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    return state


def head_parameter_names(model: nn.Module, head: Iterable[str]) -> set[str]:
    prefixes = tuple(f"{name}." for name in head)
    return {name for name, _ in model.named_parameters() if name.startswith(prefixes)}


def freeze_backbone(model: nn.Module, head: Iterable[str]) -> set[str]:
    """Freeze every parameter outside ``head``; returns the trainable names."""
    trainable = head_parameter_names(model, head)
    for name, param in model.named_parameters():
        param.requires_grad_(name in trainable)
    return trainable


def replace_head(model: nn.Module, head: Iterable[str], num_classes: int | None = None) -> None:
    """Replace each head Linear by a fresh one, weights N(0, 0.01), bias 0.

    ``num_classes`` changes the output size of the last head module (a new task).
    """
    names = list(head)
    for index, name in enumerate(names):
        old = model.get_submodule(name)
        if not isinstance(old, nn.Linear):
            raise TypeError(f"head module {name!r} is {type(old).__name__}, expected nn.Linear")
        out_features = num_classes if (num_classes and index == len(names) - 1) else old.out_features
        new = nn.Linear(old.in_features, out_features, device=old.weight.device, dtype=old.weight.dtype)
        nn.init.normal_(new.weight, mean=0.0, std=HEAD_INIT_STD)
        nn.init.zeros_(new.bias)
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


@dataclasses.dataclass(frozen=True)
class ParameterCount:
    trainable: int
    total: int

    @property
    def fraction(self) -> float:
        return self.trainable / self.total if self.total else 0.0


def count_parameters(model: nn.Module) -> ParameterCount:
    return ParameterCount(
        trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        total=sum(p.numel() for p in model.parameters()),
    )


def pretrain_checkpoint(spec: ModelSpec, path: Path, steps: int = 2, batch_size: int = 4, seed: int = 0) -> Path:
    """Make a checkpoint by a short pre-training on synthetic data (CPU), then save it."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = spec.build()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs = torch.randn(batch_size, *spec.input_shape, generator=generator)
    targets = torch.randint(0, spec.num_classes, (batch_size,), generator=generator)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    return save_checkpoint(model, path)


def prepare_finetune(spec: ModelSpec, checkpoint: Path, num_classes: int | None = None) -> nn.Module:
    """A model loaded from ``checkpoint`` with its head replaced and the backbone frozen."""
    model = spec.build()
    state = load_state_dict_safely(checkpoint)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"{checkpoint} does not fit model {spec.name}: "
                              f"{str(error).splitlines()[0]}") from None
    replace_head(model, spec.head, num_classes)
    freeze_backbone(model, spec.head)
    return model
