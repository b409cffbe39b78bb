"""Optimisers and learning-rate schedules selected by name from config."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from tsr.errors import ConfigError

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

# Each builder gets (optimizer, max_epochs, options) and steps once per epoch.
SCHEDULERS: dict[str, Callable[[Optimizer, int, dict[str, Any]], LRScheduler]] = {
    "cosine": lambda opt, epochs, o: torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(1, epochs), eta_min=o.get("eta_min", 0.0)
    ),
    "step": lambda opt, epochs, o: torch.optim.lr_scheduler.StepLR(
        opt, step_size=o.get("step_size", 10), gamma=o.get("gamma", 0.1)
    ),
    "exponential": lambda opt, epochs, o: torch.optim.lr_scheduler.ExponentialLR(
        opt, gamma=o.get("gamma", 0.95)
    ),
}


def check_optimizer(config: Mapping[str, Any]) -> dict[str, Any]:
    options = dict(config)
    name = options.pop("name", "adam")
    if name not in OPTIMIZERS:
        raise ConfigError(
            f"unknown model.optimizer.name={name!r}; valid choices: {', '.join(OPTIMIZERS)}"
        )
    lr = options.get("lr")
    if isinstance(lr, bool) or not isinstance(lr, int | float) or lr <= 0:
        raise ConfigError(f"model.optimizer.lr={lr!r} must be a number > 0")
    return {"name": name, **options}


def check_scheduler(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not config or config.get("name") in (None, "none"):
        return None
    if config["name"] not in SCHEDULERS:
        raise ConfigError(
            f"unknown model.scheduler.name={config['name']!r}; valid choices: none, "
            + ", ".join(SCHEDULERS)
        )
    return dict(config)


def build_optimizer(params: Iterable[torch.nn.Parameter], config: Mapping[str, Any]) -> Optimizer:
    options = check_optimizer(config)
    name = options.pop("name")
    try:
        return OPTIMIZERS[name](params, **options)
    except TypeError as exc:
        raise ConfigError(f"model.optimizer: {exc}") from exc


def build_scheduler(
    optimizer: Optimizer, config: Mapping[str, Any] | None, max_epochs: int
) -> LRScheduler | None:
    options = check_scheduler(config)
    if options is None:
        return None
    return SCHEDULERS[options.pop("name")](optimizer, max_epochs, options)
