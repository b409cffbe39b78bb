"""One sweep trial: the training config at a point of the search space, trained
in-process through tsr.training.run, its metric returned to Optuna."""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import traceback
from collections.abc import Sequence
from pathlib import Path

import optuna
from hydra.errors import HydraException
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException

from tsr.config.composition import compose_checked
from tsr.errors import ConfigError, TsrError
from tsr.sweeps.pruning import TrialPruning
from tsr.sweeps.space import first_point
from tsr.sweeps.study import ERROR, INTERRUPTED, SURPLUS, WORKER, SweepSettings, used_budget
from tsr.training.run import build, train

log = logging.getLogger("tsr.sweep")


def effective_overrides(overrides: list[str]) -> list[str]:
    """Each key once, with the value that takes effect (the last one given): the sweep's
    default for a key followed by the user's value records only the user's."""
    effective: dict[str, str] = {}
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        effective.pop(key, None)
        effective[key] = override
    return list(effective.values())


class TrialError(Exception):
    """A trial failed by itself (recorded FAIL with its error; the sweep goes on)."""


class BudgetSpent(Exception):
    """Another worker took the last trial of the budget first."""


def compose_training(overrides: Sequence[str]) -> DictConfig:
    """The training config of `python -m tsr.train <overrides>` (inside initialize_config_dir)."""
    return compose_checked("train", overrides)


def check_space(settings: SweepSettings, overrides: Sequence[str]) -> None:
    """Build (without data) the training config at one point of the space and at every
    categorical choice, so a misspelt path or choice fails before the first trial."""
    base = first_point(settings.params)
    points = [base]
    for param in settings.params:
        points += [{**base, param.name: choice} for choice in param.choices[1:]]
    for point in points:
        values = [p.override(point[p.name]) for p in settings.params]
        try:
            cfg = compose_training([*overrides, *values])
        except (HydraException, OmegaConfBaseException, ConfigError) as exc:
            raise ConfigError(f"sweep.params: {' '.join(values)}: {exc}") from None
        with open_dict(cfg):
            cfg.paths.output_dir = "unused"
            cfg.logger = None
        try:
            build(cfg)
        except ConfigError as exc:
            raise ConfigError(f"sweep.params at {point}: {exc}") from None


class Objective:
    """One trial: suggest values, compose the training config, train, return the metric."""

    def __init__(self, settings: SweepSettings, overrides: list[str], sweep_dir: Path) -> None:
        self.settings = settings
        self.overrides = overrides
        self.sweep_dir = sweep_dir
        self.current: optuna.Trial | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        self.current = trial
        if used_budget(trial.study, below=trial.number) >= self.settings.n_trials:
            trial.set_user_attr(SURPLUS, True)
            trial.study.stop()
            raise BudgetSpent(f"the study reached sweep.n_trials={self.settings.n_trials}")
        values = {p.name: p.suggest(trial) for p in self.settings.params}
        overrides = [
            *self.settings.train,
            *self.overrides,
            *(p.override(values[p.name]) for p in self.settings.params),
        ]
        trial_dir = self.sweep_dir / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("overrides", effective_overrides(overrides))
        # who runs it: a later start on this host fails it at once if this process is gone
        trial.set_user_attr(WORKER, {"host": socket.gethostname(), "pid": os.getpid()})
        trial.set_user_attr("output_dir", str(trial_dir))
        done = used_budget(trial.study, below=trial.number, running=False)
        log.info(
            "trial %d (%d/%d): %s",
            trial.number,
            done + 1,
            self.settings.n_trials,
            ", ".join(
                f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
            ),
        )
        error = None
        try:
            cfg = compose_training(overrides)
            self._place(cfg, trial_dir, trial.number)
            pruning = TrialPruning(trial, self.settings.prune_on, cfg)
            metrics = train(cfg, callbacks=[pruning], show_summary=False)
        except optuna.TrialPruned:
            raise
        except (KeyboardInterrupt, SystemExit):
            # Lightning turns Ctrl-C into sys.exit(1) and leaves SIGINT ignored.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            trial.set_user_attr(INTERRUPTED, True)
            raise KeyboardInterrupt from None
        except TsrError as exc:
            error = str(exc)
        except Exception as exc:  # out of memory, a bad combination, a bug: one trial's fault
            error = f"{type(exc).__name__}: {exc}".strip()
            trial_dir.mkdir(parents=True, exist_ok=True)
            (trial_dir / "error.txt").write_text(traceback.format_exc())
        if error is None:
            value = metrics.get(self.settings.metric)
            if value is None or not math.isfinite(value):
                error = f"the run gave no finite {self.settings.metric} ({value})"
        if error is not None:
            trial.set_user_attr(ERROR, error)
            raise TrialError(error)
        trial.set_user_attr("epochs", metrics["epochs"])
        trial.set_user_attr("seconds_per_epoch", metrics["seconds_per_epoch"])
        return float(value)

    def _place(self, cfg: DictConfig, trial_dir: Path, number: int) -> None:
        """The trial's output folder and TensorBoard run (named by trial number)."""
        with open_dict(cfg):
            cfg.paths.output_dir = str(trial_dir)
            tensorboard = (cfg.get("logger") or {}).get("tensorboard")
            if tensorboard:
                tensorboard.name = f"sweeps/{self.settings.study_name}"
                tensorboard.version = f"trial_{number:04d}"
