"""The search space of a sweep, read from `sweep.params` in config.

Each parameter has a short name (what Optuna, the summary and the importances show)
and the training-config path it sets; a trial's values become ordinary Hydra
overrides (`model.optimizer.lr=0.00123`, `data.preprocessing=gray`, `model=resnet`),
so a trial is exactly the training run those overrides describe:

    params:
      lr: {path: model.optimizer.lr, type: float, low: 1.0e-4, high: 1.0e-2, log: true}
      data_type: {path: data.preprocessing, type: categorical, choices: [gray, clahe]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from tsr.errors import ConfigError

TYPES = ("float", "int", "categorical")
Choice = None | bool | int | float | str


@dataclass(frozen=True)
class SearchParam:
    name: str
    path: str  # a training-config key (model.optimizer.lr) or a config group (model)
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Choice, ...] = ()

    def __post_init__(self) -> None:
        where = f"sweep.params.{self.name}"
        if not self.path or not isinstance(self.path, str):
            raise ConfigError(
                f"{where}.path must name a training-config key, e.g. model.optimizer.lr"
            )
        if self.type not in TYPES:
            raise ConfigError(f"{where}.type={self.type!r}; valid choices: {', '.join(TYPES)}")
        if self.type == "categorical":
            if not self.choices:
                raise ConfigError(f"{where}: a categorical parameter needs a list of choices")
            for choice in self.choices:
                if choice is not None and not isinstance(choice, bool | int | float | str):
                    raise ConfigError(
                        f"{where}: choice {choice!r} must be a number, string, bool or null"
                    )
            return
        if self.low is None or self.high is None or not self.low < self.high:
            raise ConfigError(f"{where}: needs low < high (got low={self.low}, high={self.high})")
        if self.log and self.low <= 0:
            raise ConfigError(f"{where}: a log-scale range needs low > 0 (got {self.low})")
        if self.log and self.step is not None:
            raise ConfigError(f"{where}: step and log cannot be combined")

    def suggest(self, trial: optuna.Trial) -> Choice:
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def override(self, value: Choice) -> str:
        """The Hydra override that sets this parameter to `value`."""
        return f"{self.path}={format_value(value)}"


def format_value(value: Choice) -> str:
    """A value in Hydra's override grammar (floats keep full precision)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_space(params: Mapping[str, Mapping[str, Any]] | None) -> list[SearchParam]:
    """`sweep.params` -> parameters; entries set to null are dropped (`sweep.params.x=null`)."""
    if not params:
        raise ConfigError("sweep.params is empty: a sweep needs at least one parameter")
    space = []
    for name, spec in params.items():
        if spec is None:
            continue
        if not isinstance(spec, Mapping):
            raise ConfigError(f"sweep.params.{name} must be a mapping with path and type")
        known = set(SearchParam.__dataclass_fields__) - {"name"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigError(
                f"sweep.params.{name} has unknown key(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(known))}"
            )
        values = dict(spec)
        values["choices"] = tuple(values.get("choices") or ())
        space.append(SearchParam(name=name, **values))
    if not space:
        raise ConfigError("sweep.params is empty: a sweep needs at least one parameter")
    return space


def first_point(space: list[SearchParam]) -> dict[str, Choice]:
    """One valid value per parameter (first choice, lower bound): to check the training
    config the sweep composes before any trial runs."""
    point: dict[str, Choice] = {}
    for param in space:
        if param.type == "categorical":
            point[param.name] = param.choices[0]
        elif param.type == "int":
            point[param.name] = int(param.low)
        else:
            point[param.name] = float(param.low)
    return point
