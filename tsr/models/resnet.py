"""A residual network (He et al. 2016) sized for 32x32 signs.

Basic blocks (two 3x3 convolutions with batch norm) add their input back; the
first block of each stage halves the resolution with stride 2 and a 1x1
projection shortcut. Global average pooling feeds the classifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from tsr.errors import ConfigError
from tsr.models.layers import (
    Activation,
    Channels,
    Dropout,
    conv_bn_act,
    make_activation,
    pooled_classifier,
)
from tsr.models.registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, activation: str) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            conv_bn_act(in_channels, out_channels, 3, activation, stride=stride),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()
        self.activation = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.residual(x) + self.shortcut(x))


@register_model("resnet")
class ResNet(nn.Module):
    """stem conv3 -> stages of basic blocks (each stage stride 2) -> global avg pool -> fc."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: Sequence[Channels] = (32, 64, 128),
        blocks: Sequence[Annotated[int, Field(ge=1, le=64)]] = (2, 2, 2),
        dropout: Dropout = 0.0,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        if len(widths) != len(blocks) or not widths or min(*widths, *blocks) < 1:
            raise ConfigError(
                f"model.backbone_options.widths={list(widths)} and blocks={list(blocks)} must be "
                "lists of positive integers of the same length (one entry per stage)"
            )
        layers: list[nn.Module] = [conv_bn_act(in_channels, widths[0], 3, activation)]
        channels = widths[0]
        for width, count in zip(widths, blocks, strict=True):
            for index in range(count):
                layers.append(BasicBlock(channels, width, 2 if index == 0 else 1, activation))
                channels = width
        self.features = nn.Sequential(*layers)
        self.head = pooled_classifier(channels, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
