"""A wall-time budget for a run: as many epochs as fit, with a schedule that knows its length.

Lightning's `trainer.max_time` stops a run wherever the clock runs out: a cosine or one-cycle
schedule is cut before its learning rate comes down, and the weights tested are those of a
high learning rate. `TimeBudget` instead measures the first epoch on this machine (training
and validation), then fixes the run's length once: at most `trainer.max_epochs`, fewer when
they would not fit in the budget, and rebuilds the learning-rate schedule for that length
(its null `T_max` / `total_steps`, tsr.models.optim), continued from the steps already taken.
A recipe whose epoch count was chosen on validation thus keeps it on a fast host and
shortens it on a slow one instead of overrunning.

The budget counts from when the trainer is built (the imports and the configuration come
before it, a few seconds) to the end of the test and temperature scaling, which it keeps
time for (the test set scored at the measured validation speed, once more for the
temperature). A resumed run keeps the length it planned and does not plan again; one
interrupted before it planned measures the batches it runs and scales them to an epoch.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from typing import Any

import lightning as L

from tsr.errors import ConfigError
from tsr.models.optim import build_scheduler

log = logging.getLogger(__name__)


class TimeBudget(L.Callback):
    """`minutes`: the run's wall-time budget (null: none, the callback does nothing).
    `margin`: the share of it held back for the speed of a shared host varying from epoch to
    epoch (measured: up to ~15 % between runs on the 2-core hosts, a few % between epochs of
    one run)."""

    def __init__(self, minutes: float | None = None, margin: float = 0.05) -> None:
        if minutes is not None and (
            isinstance(minutes, bool)
            or not isinstance(minutes, int | float)
            or not math.isfinite(minutes)
            or minutes <= 0
        ):
            raise ConfigError(
                f"callbacks.time_budget.minutes={minutes!r} must be a number of minutes > 0, "
                "or null for no budget"
            )
        if isinstance(margin, bool) or not (isinstance(margin, int | float) and 0 <= margin < 1):
            raise ConfigError(
                f"callbacks.time_budget.margin={margin!r} must be a number >= 0 and < 1"
            )
        self.enabled = minutes is not None
        self.seconds = 60.0 * float(minutes or 0)
        self.margin = float(margin)
        self.start = time.perf_counter()
        self.planned_epochs: int | None = None  # set once, after the first epoch
        self._epoch_start: float | None = None
        self._val_start: float | None = None
        self._val_seconds = 0.0
        self._val_images = 0
        self._train_seconds: float | None = None
        self._batches = 0

    def check(self, max_epochs: int | None) -> None:
        """ConfigError unless the run has a most epochs to plan within (before data is read)."""
        if self.enabled and (max_epochs is None or max_epochs < 1):
            raise ConfigError(
                f"callbacks.time_budget needs trainer.max_epochs >= 1 (the most epochs it may "
                f"plan; it shortens the run to fit the budget), not {max_epochs}"
            )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.planned_epochs is not None:  # resumed: the length planned before stands
            trainer.fit_loop.max_epochs = self.planned_epochs

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        self._train_seconds = None
        self._batches = 0

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        self._batches += 1  # this process's batches: an epoch resumed mid-way is partial

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._val_start = time.perf_counter()
            self._val_images = 0
            if self._epoch_start is not None and self._train_seconds is None:
                self._train_seconds = self._val_start - self._epoch_start

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not trainer.sanity_checking:  # the images scored, whatever limit_val_batches says
            self._val_images += len(batch[-1]) if isinstance(batch, list | tuple) else len(batch)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and self._val_start is not None:
            self._val_seconds = time.perf_counter() - self._val_start

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or self.planned_epochs is not None or self._epoch_start is None:
            return
        now = time.perf_counter()
        train_seconds = (
            self._train_seconds if self._train_seconds is not None else (now - self._epoch_start)
        )
        # a whole epoch at the speed measured: its batches, then validation
        batches = max(1, self._batches)
        total = trainer.num_training_batches
        scale = total / batches if math.isfinite(total) and total > 0 else 1.0
        epoch_seconds = max(1e-6, train_seconds * scale + self._val_seconds)
        left = self.seconds * (1.0 - self.margin) - (now - self.start) - self._reserve(trainer)
        fit = trainer.current_epoch + 1 + max(0, math.floor(left / epoch_seconds))
        planned = int(trainer.strategy.broadcast(min(trainer.max_epochs, fit)))  # rank 0's
        self.planned_epochs = planned
        if planned < trainer.max_epochs:
            log.warning(
                "time budget %.1f min: an epoch takes %.0f s here, so %d of trainer.max_epochs"
                "=%d epochs fit; the learning-rate schedule is rebuilt for %d epochs",
                self.seconds / 60,
                epoch_seconds,
                planned,
                trainer.max_epochs,
                planned,
            )
            trainer.fit_loop.max_epochs = planned
            self._rebuild_schedules(trainer, pl_module)
        else:
            log.info(
                "time budget %.1f min: an epoch takes %.0f s here; all %d epochs fit",
                self.seconds / 60,
                epoch_seconds,
                planned,
            )

    def _reserve(self, trainer: L.Trainer) -> float:
        """Seconds kept for the test set (the data module's), and for temperature scaling on
        validation, at the validation speed measured."""
        if not self._val_images:
            return 0.0
        test_set = getattr(trainer.datamodule, "test_set", None)
        test_images = len(test_set) if test_set is not None else 0
        return self._val_seconds / self._val_images * (test_images + self._val_images)

    @staticmethod
    def _rebuild_schedules(trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        config = getattr(pl_module, "scheduler_config", None)
        for scheduler_config in trainer.lr_scheduler_configs:
            old = scheduler_config.scheduler
            if scheduler_config.interval == "step":
                length = int(trainer.estimated_stepping_batches)
            else:
                length = int(trainer.max_epochs)
            new = build_scheduler(old.optimizer, config, length)
            if new is None:
                continue
            with warnings.catch_warnings():  # stepping without optimizer steps, on purpose
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(old.last_epoch):
                    new.step()
            scheduler_config.scheduler = new

    def state_dict(self) -> dict[str, Any]:
        return {"planned_epochs": self.planned_epochs}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.planned_epochs = state_dict.get("planned_epochs")
