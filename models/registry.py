"""Model registry: name -> builder, input shape, classes and fine-tuning head.

Adding a model is one file with its module and config, and one entry in REGISTRY.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from torch import nn

from models.cnn import CNN, CNNConfig
from models.mlp import MLP, MLPConfig
from models.mlp_large import MLPLarge, MLPLargeConfig


class UnknownModelError(ValueError):
    """A model name that is not registered."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]  # one sample, without the batch dimension
    num_classes: int
    head: tuple[str, ...]  # modules replaced and trained when fine-tuning
    description: str


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("mlp", MLP, (1, 28, 28), MLPConfig().num_classes, ("head",),
                  "MNIST MLP 784-512-512-10"),
        ModelSpec("cnn", CNN, (1, 28, 28), CNNConfig().num_classes, ("fc1", "fc2"),
                  "MNIST CNN conv32-conv64-pool-fc128-fc10 (the seed's, corrected)"),
        ModelSpec("mlp-large", MLPLarge, (MLPLargeConfig().width,), MLPLargeConfig().num_classes,
                  ("head",), "matmul-bound MLP, 4 x 8192"),
    )
}


def get_model(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; expected one of {', '.join(REGISTRY)}") from None
