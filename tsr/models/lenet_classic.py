"""LeNet-5 as in the seed's Keras notebook: average pooling, fc 120-84 (64,511 parameters, gray)."""

from __future__ import annotations

from tsr.models.layers import Activation, Dropout
from tsr.models.lenet import LeNet5
from tsr.models.registry import register_model


@register_model("lenet_classic")
def lenet_classic(
    in_channels: int,
    num_classes: int,
    dropout: Dropout = 0.0,
    activation: Activation = "relu",
    image_size: int = 32,
) -> LeNet5:
    """32x32 -> conv5 6 -> avg-pool -> conv5 16 -> avg-pool -> 400 -> fc 120 -> fc 84 -> classes."""
    return LeNet5(
        in_channels,
        num_classes,
        dropout=dropout,
        activation=activation,
        image_size=image_size,
        pool="avg",
        hidden=(120, 84),
    )
