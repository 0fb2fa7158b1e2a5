"""A matmul-bound MLP (default 4 layers of 8192): how close a machine gets to its matmul ceiling."""

from __future__ import annotations

import dataclasses

from torch import nn


@dataclasses.dataclass(frozen=True)
class MLPLargeConfig:
    width: int = 8192
    depth: int = 4
    num_classes: int = 1000


class MLPLarge(nn.Module):
    def __init__(self, config: MLPLargeConfig = MLPLargeConfig()) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(config.depth):
            layers += [nn.Linear(config.width, config.width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(config.width, config.num_classes)

    def forward(self, x):
        return self.head(self.body(x))
