"""A small GoogLeNet (Szegedy et al. 2015) for 32x32 signs.

Each inception module runs 1x1, 3x3, 5x5 (as two 3x3, as in Inception v2) and
pool-projection branches side by side and concatenates them in depth; 1x1
bottlenecks keep the 3x3 branches cheap. Global average pooling replaces the
large fully connected head, so the parameter count stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from tsr.models.layers import Activation, Channels, Dropout, conv_bn_act, pooled_classifier
from tsr.models.registry import register_model

# Per module: 1x1, 3x3 bottleneck, 3x3, 5x5 bottleneck, 5x5 (two 3x3), pool projection.
# "pool" between entries halves the resolution (16x16 -> 8x8).
# Only 3a runs at 16x16: on a CPU the many small operations of a module (max-pooling
# above all) cost more than its MACs suggest: 3a and 3b at 16x16 took 97 s per epoch
# on 2 cores, this layout 55 s (34 s with channels_last, the default).
DEFAULT_LAYOUT: tuple[Sequence[int] | str, ...] = (
    (32, 32, 48, 8, 16, 16),  # 3a -> 112 channels, 16x16
    "pool",
    (48, 48, 64, 12, 24, 24),  # 3b -> 160, 8x8
    (64, 64, 96, 16, 32, 32),  # 4a -> 224
    (80, 80, 112, 16, 32, 32),  # 4b -> 256
)


class InceptionModule(nn.Module):
    def __init__(
        self,
        in_channels: int,
        c1: int,
        c3_reduce: int,
        c3: int,
        c5_reduce: int,
        c5: int,
        pool_proj: int,
        activation: str,
    ) -> None:
        super().__init__()
        self.branch1 = conv_bn_act(in_channels, c1, 1, activation)
        self.branch3 = nn.Sequential(
            conv_bn_act(in_channels, c3_reduce, 1, activation),
            conv_bn_act(c3_reduce, c3, 3, activation),
        )
        self.branch5 = nn.Sequential(
            conv_bn_act(in_channels, c5_reduce, 1, activation),
            conv_bn_act(c5_reduce, c5, 3, activation),
            conv_bn_act(c5, c5, 3, activation),
        )
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), conv_bn_act(in_channels, pool_proj, 1, activation)
        )
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)


@register_model("inception")
class InceptionNet(nn.Module):
    """stem conv3 -> pool -> inception 3a -> pool -> 3b, 4a, 4b -> global avg pool -> fc."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        stem: Channels = 32,
        width: Annotated[float, Field(gt=0.0, le=16.0, allow_inf_nan=False)] = 1.0,
        dropout: Dropout = 0.4,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            conv_bn_act(in_channels, stem, 3, activation),
            nn.MaxPool2d(2),
        ]
        channels = stem
        for entry in DEFAULT_LAYOUT:
            if entry == "pool":
                layers.append(nn.MaxPool2d(2))
                continue
            widths = [max(1, round(c * width)) for c in entry]
            module = InceptionModule(channels, *widths, activation=activation)
            layers.append(module)
            channels = module.out_channels
        self.features = nn.Sequential(*layers)
        self.head = pooled_classifier(channels, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
