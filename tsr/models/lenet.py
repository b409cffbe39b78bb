"""LeNet-5 as in the seed writeup: conv 6 and 16 (5x5, valid), max-pool, fc 200-84."""

from __future__ import annotations

import torch
from torch import nn

from tsr.models.layers import check_dropout, make_activation
from tsr.models.registry import register_model


@register_model("lenet")
class LeNet5(nn.Module):
    """32x32 -> conv5 6 -> pool -> conv5 16 -> pool -> 400 -> fc 200 -> fc 84 -> classes."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dropout: float = 0.33,
        activation: str = "relu",
        image_size: int = 32,
    ) -> None:
        super().__init__()
        check_dropout(dropout)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            make_activation(activation),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            make_activation(activation),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        side = ((image_size - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(
            nn.Linear(16 * side * side, 200),
            make_activation(activation),
            nn.Dropout(dropout),
            nn.Linear(200, 84),
            make_activation(activation),
            nn.Dropout(dropout),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
