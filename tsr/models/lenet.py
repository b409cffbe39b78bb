"""LeNet-5 as in the seed writeup: conv 6 and 16 (5x5, valid), max-pool, fc 200-84.

`pool` and `hidden` also give the classic variant (`lenet_classic.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tsr.config.schema import Choice
from tsr.models.layers import Activation, Dropout, Units, activation_and_pool, make_activation
from tsr.models.registry import register_model

POOLS: dict[str, type[nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


@register_model("lenet")
class LeNet5(nn.Module):
    """32x32 -> conv5 6 -> pool -> conv5 16 -> pool -> 400 -> fc 200 -> fc 84 -> classes."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dropout: Dropout = 0.33,
        activation: Activation = "relu",
        image_size: int = 32,
        pool: Choice("max", "avg") = "max",
        hidden: Sequence[Units] = (200, 84),
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            *activation_and_pool(activation, POOLS[pool](2)),
            nn.Conv2d(6, 16, 5),
            *activation_and_pool(activation, POOLS[pool](2)),
            nn.Flatten(),
        )
        side = ((image_size - 4) // 2 - 4) // 2
        layers: list[nn.Module] = []
        width = 16 * side * side
        for units in hidden:
            layers += [nn.Linear(width, units), make_activation(activation), nn.Dropout(dropout)]
            width = units
        self.classifier = nn.Sequential(*layers, nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
