"""LeNet-5 as in the seed's Keras notebook: average pooling, fc 120-84 (64,511 parameters, gray)."""

from __future__ import annotations

import torch
from torch import nn

from tsr.models.layers import check_dropout, make_activation
from tsr.models.registry import register_model


@register_model("lenet_classic")
class LeNet5Classic(nn.Module):
    """32x32 -> conv5 6 -> avg-pool -> conv5 16 -> avg-pool -> 400 -> fc 120 -> fc 84 -> classes."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dropout: float = 0.0,
        activation: str = "relu",
        image_size: int = 32,
    ) -> None:
        super().__init__()
        check_dropout(dropout)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            make_activation(activation),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5),
            make_activation(activation),
            nn.AvgPool2d(2),
            nn.Flatten(),
        )
        side = ((image_size - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(
            nn.Linear(16 * side * side, 120),
            make_activation(activation),
            nn.Dropout(dropout),
            nn.Linear(120, 84),
            make_activation(activation),
            nn.Dropout(dropout),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
