"""The seed article's MNIST CNN, corrected.

conv(1->32, 3) -> ReLU -> conv(32->64, 3) -> ReLU -> max-pool 2 -> flatten (9216)
-> Linear 128 -> ReLU -> Linear 10: the canonical PyTorch MNIST layout. The seed
sized fc1 for 64x6x6 inputs while its convolutions produce 64x24x24 maps (it
crashes); the max-pool brings them to 64x12x12 = 9216.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn


@dataclasses.dataclass(frozen=True)
class CNNConfig:
    in_channels: int = 1
    image_size: int = 28
    hidden: int = 128
    num_classes: int = 10

    @property
    def flat_features(self) -> int:
        side = (self.image_size - 4) // 2  # two 3x3 valid convs, then a 2x2 pool
        return 64 * side * side


class CNN(nn.Module):
    def __init__(self, config: CNNConfig = CNNConfig()) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(config.in_channels, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(config.flat_features, config.hidden)
        self.fc2 = nn.Linear(config.hidden, config.num_classes)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.flatten(self.pool(x), 1)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)
