"""MNIST-shaped MLP: 784 -> 512 -> 512 -> 10 with ReLU (sizes configurable)."""

from __future__ import annotations

import dataclasses

from torch import nn


@dataclasses.dataclass(frozen=True)
class MLPConfig:
    in_features: int = 784
    hidden: tuple[int, ...] = (512, 512)
    num_classes: int = 10


class MLP(nn.Module):
    """Flatten, hidden Linear+ReLU layers (``body``), then a Linear ``head``."""

    def __init__(self, config: MLPConfig = MLPConfig()) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = config.in_features
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, config.num_classes)

    def forward(self, x):
        return self.head(self.body(x))
