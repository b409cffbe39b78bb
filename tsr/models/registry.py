"""A registry of backbones by name, so configs select models without if/else chains.

    @register_model("lenet")
    class LeNet5(nn.Module): ...

    create_model("lenet", in_channels=1, num_classes=43, dropout=0.33)

Every backbone takes `in_channels` and `num_classes` and maps (B, C, 32, 32)
float images to (B, num_classes) logits.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from tsr.config.schema import Settings, defaults, signature_settings, validate
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


# Set by the data and the classifier, not by backbone_options
_PROVIDED = ("in_channels", "num_classes", "image_size")


@functools.cache
def backbone_settings(name: str) -> type[Settings]:
    """The schema of a backbone's options, read from its signature: the defaults, and the
    types and ranges its annotations give (tsr.models.layers: Dropout, Channels, ...)."""
    return signature_settings(_MODELS[name], f"{name}_options", _PROVIDED)


def backbone_defaults(name: str) -> dict[str, Any]:
    """What `model.backbone_options` holds when a config changes nothing."""
    return defaults(backbone_settings(name))


def create_model(
    name: str, in_channels: int, num_classes: int, image_size: int = 32, **kwargs: Any
) -> nn.Module:
    """Build a registered backbone; `image_size` reaches those that need it (fc heads).
    The options are checked against the backbone's schema first (`backbone_settings`)."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    options = validate(backbone_settings(name), kwargs, "model.backbone_options")
    factory = _MODELS[name]
    values = {key: getattr(options, key) for key in type(options).model_fields}
    if "image_size" in inspect.signature(factory).parameters:
        values["image_size"] = image_size
    return factory(in_channels=in_channels, num_classes=num_classes, **values)
