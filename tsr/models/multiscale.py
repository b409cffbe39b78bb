"""The multi-scale ConvNet of Sermanet & LeCun (IJCNN 2011), 99.17 % on GTSRB in the paper.

Two conv stages; the first stage's output is pooled once more and fed to the
classifier together with the second stage's output, so the classifier sees
both local detail (stage 1) and larger shapes (stage 2). `batch_norm` (not in
the paper) adds batch normalisation after each convolution: it trains faster.
`dropout` acts on the multi-scale features; dropout on the 100 hidden units
(`hidden_dropout`) slows training sharply (measured: 2 epochs on 8k images,
86 % -> 81 % -> 59 % test for 0 / 0.2 / 0.5), so it is off by default.
`feature_norm` batch-normalises the multi-scale features before the classifier: they
are all positive (pooled ReLUs), so without it every Adam step moves the first hidden
layer's inputs together by about lr x the feature count (8k for 108-108), which is why
108-108 trained badly at lr 1e-3.
`feature_stn` puts a second spatial transformer on stage 1's feature maps, before stage 2
and the multi-scale branch (Arcos-Garcia et al. 2018 put one before each stage; the first
is the classifier's `stn`, in front of the image).
"""

from __future__ import annotations

import torch
from torch import nn

from tsr.models.layers import (
    Activation,
    Channels,
    Dropout,
    Units,
    activation_and_pool,
    make_activation,
)
from tsr.models.registry import register_model
from tsr.models.stn import feature_map_transformer


def conv_stage(in_channels: int, out_channels: int, activation: str, batch_norm: bool) -> nn.Module:
    """conv 5x5 (valid) -> [batch norm] -> activation -> max-pool 2 (pooled first where
    that is exact: layers.activation_and_pool)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 5, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers += activation_and_pool(activation, nn.MaxPool2d(2))
    return nn.Sequential(*layers)


@register_model("multiscale")
class MultiScaleConvNet(nn.Module):
    """conv5 -> pool (stage 1) -> [transformer] -> conv5 -> pool (stage 2);
    [pool(stage 1), stage 2] -> fc -> fc."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        stage1: Channels = 108,
        stage2: Channels = 108,
        hidden: Units = 100,
        dropout: Dropout = 0.5,
        hidden_dropout: Dropout = 0.0,
        activation: Activation = "relu",
        batch_norm: bool = True,
        feature_norm: bool = True,
        feature_stn: bool = False,
        image_size: int = 32,
    ) -> None:
        super().__init__()
        self.stage1 = conv_stage(in_channels, stage1, activation, batch_norm)
        side1 = (image_size - 4) // 2
        self.feature_stn = (
            feature_map_transformer(stage1, side1, activation=activation)
            if feature_stn
            else nn.Identity()
        )
        self.stage2 = conv_stage(stage1, stage2, activation, batch_norm)
        self.branch_pool = nn.MaxPool2d(2)  # stage 1 pooled again before the classifier
        side2 = (side1 - 4) // 2
        features = stage1 * (side1 // 2) ** 2 + stage2 * side2**2
        self.classifier = nn.Sequential(
            nn.BatchNorm1d(features) if feature_norm else nn.Identity(),
            nn.Dropout(dropout),
            nn.Linear(features, hidden),
            make_activation(activation),
            nn.Dropout(hidden_dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.feature_stn(self.stage1(x))
        s2 = self.stage2(s1)
        features = torch.cat([self.branch_pool(s1).flatten(1), s2.flatten(1)], dim=1)
        return self.classifier(features)
