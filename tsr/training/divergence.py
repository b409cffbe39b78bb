"""Stop a run whose training loss is no longer finite, instead of training on NaNs."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from tsr.errors import TrainingDiverged


class DivergenceGuard(L.Callback):
    """Raises `TrainingDiverged` at the end of an epoch in which a step's loss was NaN or
    infinite. The check accumulates on the loss's device and reads it once per epoch, so it
    adds no per-step host synchronisation."""

    def __init__(self) -> None:
        self._bad: torch.Tensor | None = None
        self._first_bad_step: int | None = None

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

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._bad is not None and bool(self._bad):
            raise TrainingDiverged(
                f"the training loss became NaN or infinite in epoch {trainer.current_epoch}: "
                "lower model.optimizer.lr (now "
                f"{trainer.optimizers[0].param_groups[0]['lr']:.3g}) or check the data"
            )
