"""ResNets from torchvision, randomly initialised (``weights=None``: nothing is downloaded).

ImageNet-shaped: 3x224x224 inputs, 1000 classes. Their users train them with SGD and
momentum, in channels-last memory format on GPUs; the fine-tune head is ``fc``.
"""

from __future__ import annotations

from torch import nn


def resnet18(num_classes: int = 1000) -> nn.Module:
    from torchvision.models import resnet18 as build

    return build(weights=None, num_classes=num_classes)


def resnet50(num_classes: int = 1000) -> nn.Module:
    from torchvision.models import resnet50 as build

    return build(weights=None, num_classes=num_classes)
