"""A registry of backbones by name, so configs select models without if/else chains.

    @register_model("lenet")
    class LeNet5(nn.Module): ...

    create_model("lenet", in_channels=1, num_classes=43, dropout=0.33)

Every backbone takes `in_channels` and `num_classes` and maps (B, C, 32, 32)
float images to (B, num_classes) logits.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from tsr.config.checks import check_type
from tsr.errors import ConfigError

_MODELS: dict[str, Callable[..., nn.Module]] = {}
ModelFactory = TypeVar("ModelFactory", bound=Callable[..., nn.Module])


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    def register(factory: ModelFactory) -> ModelFactory:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = factory
        return factory

    return register


def list_models() -> list[str]:
    return sorted(_MODELS)


def create_model(
    name: str, in_channels: int, num_classes: int, image_size: int = 32, **kwargs: Any
) -> nn.Module:
    """Build a registered backbone; `image_size` reaches those that need it (fc heads)."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    factory = _MODELS[name]
    params = inspect.signature(factory).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        valid = sorted(set(params) - {"in_channels", "num_classes", "image_size"})
        raise ConfigError(
            f"model {name!r} has no option(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
        )
    for key, value in kwargs.items():
        check_type(f"model.backbone_options.{key}", value, params[key].annotation)
    if "image_size" in params:
        kwargs["image_size"] = image_size
    return factory(in_channels=in_channels, num_classes=num_classes, **kwargs)
