"""Small building blocks shared by the backbones."""

from __future__ import annotations

from torch import nn

from tsr.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; valid choices: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def check_dropout(p: float) -> float:
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"dropout={p} must lie in [0, 1)")
    return p
