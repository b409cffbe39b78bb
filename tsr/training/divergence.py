"""Stop a run that diverged or collapsed, instead of training on for nothing.

Two signs, each a `TrainingDiverged` with the fix: a training loss that is no longer finite
(NaN/inf), and a validation accuracy that fell far below the best the run had reached (a
collapse: the loss stays finite, the net predicts one class or a few). Lightning's
`EarlyStopping` does neither: its `check_finite` watches the monitored validation metric,
not the training loss, and its `divergence_threshold` is an absolute level, which stops a
slow starter in its first epochs as readily as a collapsed run. A fall from the run's own
best tells the two apart: measured on this project's runs of the 108-108 net (issue 18,
experiments/accuracy/README.md section 15), six 30-epoch runs never fell more than 0.19
points below their best, while two SGD runs whose one-cycle warm-up went too high fell
89.4 points (95.6 -> 6.2 %) and 47.9 points (97.9 -> 50.0 %) in one epoch, and would have
trained on at that level for 40 minutes.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import lightning as L
import torch
from pydantic import Field

from tsr.config.schema import signature_settings, validate
from tsr.errors import TrainingDiverged

KEY = "callbacks.divergence_guard"
METRIC = "val/acc"


class DivergenceGuard(L.Callback):
    """Raises `TrainingDiverged` at the end of an epoch in which a step's loss was NaN or
    infinite, or whose validation accuracy is more than `max_val_drop` (a fraction: 0.3 is
    30 points) below the best earlier epoch's (null: that check off). The loss check
    accumulates on the loss's device and reads it once per epoch, so it adds no per-step
    host synchronisation. The best accuracy so far is saved in checkpoints, so a resumed run
    compares with the epochs before the interruption too. It keeps its own best rather than
    reading `SignClassifier`'s `val/acc_best`: the message names the best epoch, which that
    metric does not hold, and the guard works with any module that logs `val/acc`."""

    def __init__(
        self,
        max_val_drop: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] | None = 0.3,
    ) -> None:
        settings = validate(
            signature_settings(DivergenceGuard, "divergence_guard_settings"),
            {"max_val_drop": max_val_drop},
            KEY,
        )
        self.max_val_drop = settings.max_val_drop
        self.best: float | None = None
        self.best_epoch: int | None = None
        self._bad: torch.Tensor | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._bad = None

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor):
            return
        bad = ~torch.isfinite(loss.detach())
        self._bad = bad if self._bad is None else self._bad | bad

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The first hook that sees this epoch's val/acc in callback_metrics (as
        # ModelCheckpoint's); it runs before the training epoch's on_train_epoch_end, so a
        # NaN loss is named as such here, not as the collapse it causes.
        self._check_loss(trainer)
        if trainer.sanity_checking or self.max_val_drop is None:
            return
        value = trainer.callback_metrics.get(METRIC)
        if value is None:
            return
        accuracy = float(value)
        if not math.isfinite(accuracy):
            return
        epoch = trainer.current_epoch
        if self.best is not None and self.best - accuracy > self.max_val_drop:
            raise TrainingDiverged(
                f"the run collapsed: {METRIC} fell from {self.best:.1%} (epoch {self.best_epoch}) "
                f"to {accuracy:.1%} in epoch {epoch}, more than {KEY}.max_val_drop="
                f"{self.max_val_drop:g} below its best, with a finite loss; lower "
                f"model.optimizer.lr or the schedule's peak (the rate is now "
                f"{_learning_rate(trainer):.3g}), or set {KEY}.max_val_drop=null to train on "
                f"(the best checkpoint so far is kept)"
            )
        if self.best is None or accuracy > self.best:
            self.best, self.best_epoch = accuracy, epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check_loss(trainer)

    def _check_loss(self, trainer: L.Trainer) -> None:
        if self._bad is not None and bool(self._bad):
            raise TrainingDiverged(
                f"the training loss became NaN or infinite in epoch {trainer.current_epoch}: "
                f"lower model.optimizer.lr (now {_learning_rate(trainer):.3g}) or check the data"
            )

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")
        self.best_epoch = state_dict.get("best_epoch")


def _learning_rate(trainer: L.Trainer) -> float:
    return float(trainer.optimizers[0].param_groups[0]["lr"])
