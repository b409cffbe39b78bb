"""Optimisers and learning-rate schedules as `_target_` + `_partial_` config nodes.

    optimizer:                      scheduler:
      _target_: torch.optim.AdamW     _target_: torch.optim.lr_scheduler.OneCycleLR
      _partial_: true                 _partial_: true
      lr: 1.0e-3                      max_lr: 3.0e-3
      weight_decay: 0.05              total_steps: null   # null: the whole run
                                    scheduler_interval: step

Any `torch.optim` optimiser or `torch.optim.lr_scheduler` class (or one of your own)
works without code. A schedule's length argument (`T_max`, `total_steps`) left null is
filled in with the run's length: epochs when the schedule steps per epoch, optimiser steps
when `scheduler_interval: step`. Both are checked when the model is built (before any data
is read): the class must exist, its options must be ones it takes, and the values must be
ones it accepts: they are tried on a one-parameter stand-in, and the schedule is stepped
twice, so `step_size=0` fails here and not after the first epoch.

Configs written before 2026-12-02 (`name: adam`, `name: cosine`) are read as the same
classes, so their checkpoints still load.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from hydra.utils import get_class
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from tsr.errors import ConfigError

TARGET, PARTIAL = "_target_", "_partial_"
# the arguments a schedule's length goes into; null: the run's length
LENGTH_ARGS = ("T_max", "total_steps")

_EXAMPLE = {
    "model.optimizer": "torch.optim.Adam",
    "model.scheduler": "torch.optim.lr_scheduler.CosineAnnealingLR",
}
_LEGACY_OPTIMIZERS = {
    "adam": "torch.optim.Adam",
    "adamw": "torch.optim.AdamW",
    "sgd": "torch.optim.SGD",
    "rmsprop": "torch.optim.RMSprop",
}
_LEGACY_SCHEDULERS = {
    "cosine": ("torch.optim.lr_scheduler.CosineAnnealingLR", {"T_max": None}),
    "step": ("torch.optim.lr_scheduler.StepLR", {"step_size": 10, "gamma": 0.1}),
    "exponential": ("torch.optim.lr_scheduler.ExponentialLR", {"gamma": 0.95}),
}


def _legacy(config: dict[str, Any], table: Mapping[str, Any], key: str) -> dict[str, Any]:
    """`{name: adam, lr: ...}` (configs before 2026-12-02) -> `{_target_: ..., lr: ...}`."""
    if TARGET in config or "name" not in config:
        return config
    name = config.pop("name")
    if name not in table:
        raise ConfigError(
            f"unknown {key}.name={name!r} (the old form); valid choices: {', '.join(table)}; "
            f"or give {key}._target_ (a class path such as {_EXAMPLE[key]})"
        )
    entry = table[name]
    target, defaults = entry if isinstance(entry, tuple) else (entry, {})
    return {TARGET: target, PARTIAL: True, **defaults, **config}


def _resolve(config: Mapping[str, Any], key: str, base: type) -> tuple[type, dict[str, Any]]:
    target = config.get(TARGET)
    if not isinstance(target, str) or not target:
        raise ConfigError(f"{key}._target_ must name a class, e.g. torch.optim.Adam")
    try:
        cls = get_class(target)
    except Exception as exc:  # hydra wraps ImportError / AttributeError
        raise ConfigError(
            f"{key}._target_={target!r} cannot be imported ({str(exc).splitlines()[0]}); "
            f"use a class path such as {_EXAMPLE[key]}"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{key}._target_={target!r} is not a {base.__module__}.{base.__name__}")
    options = {k: v for k, v in config.items() if k not in (TARGET, PARTIAL)}
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = sorted(set(options) - set(params))
    if unknown and not takes_any:
        valid = [p for p in params if p not in ("params", "optimizer", "self")]
        raise ConfigError(
            f"{key}: {cls.__name__} takes no option(s) {', '.join(unknown)}; "
            f"valid: {', '.join(valid)}"
        )
    for name, value in options.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key}.{name}={value} must be a finite number")
    return cls, options


def _stand_in() -> Optimizer:
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def optimizer_settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The optimiser node, checked (ConfigError naming the key and the fix)."""
    config = _legacy(
        dict(config or {TARGET: "torch.optim.Adam", "lr": 1e-3}),
        _LEGACY_OPTIMIZERS,
        "model.optimizer",
    )
    cls, options = _resolve(config, "model.optimizer", Optimizer)
    lr = options.get("lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, int | float) or lr <= 0):
        raise ConfigError(f"model.optimizer.lr={lr!r} must be a number > 0")
    decay = options.get("weight_decay")
    if decay is not None and (
        isinstance(decay, bool) or not isinstance(decay, int | float) or decay < 0
    ):
        raise ConfigError(f"model.optimizer.weight_decay={decay!r} must be a number >= 0")
    try:
        cls([torch.zeros(1, requires_grad=True)], **options)
    except Exception as exc:  # whatever the class raises for values it does not take
        raise ConfigError(f"model.optimizer: {cls.__name__} refused {options}: {exc}") from None
    return {TARGET: config[TARGET], PARTIAL: True, **options}


def scheduler_settings(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The schedule node, checked; None when there is none (null or the old `name: none`)."""
    if (
        not config
        or config.get("name") in ("none",)
        or (TARGET not in config and "name" not in config)
    ):
        return None
    config = _legacy(dict(config), _LEGACY_SCHEDULERS, "model.scheduler")
    cls, options = _resolve(config, "model.scheduler", LRScheduler)
    trial = {k: (100 if k in LENGTH_ARGS and v is None else v) for k, v in options.items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "step() before optimizer.step()" on the stand-in
            optimizer = _stand_in()
            scheduler = cls(optimizer, **trial)
            for _ in range(2):
                optimizer.step()
                scheduler.step()
    except Exception as exc:  # whatever the class raises for values it does not take
        raise ConfigError(
            f"model.scheduler: {cls.__name__} refused {options}: {exc or type(exc).__name__}"
        ) from None
    return {TARGET: config[TARGET], PARTIAL: True, **options}


def build_optimizer(params: Iterable[torch.nn.Parameter], config: Mapping[str, Any]) -> Optimizer:
    settings = optimizer_settings(config)
    cls, options = _resolve(settings, "model.optimizer", Optimizer)
    return cls(params, **options)


def build_scheduler(
    optimizer: Optimizer, config: Mapping[str, Any] | None, length: int
) -> LRScheduler | None:
    """The schedule, its null length arguments set to `length` (epochs or steps)."""
    settings = scheduler_settings(config)
    if settings is None:
        return None
    cls, options = _resolve(settings, "model.scheduler", LRScheduler)
    options = {
        k: (max(1, length) if k in LENGTH_ARGS and v is None else v) for k, v in options.items()
    }
    return cls(optimizer, **options)
