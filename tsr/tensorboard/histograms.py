"""Weights and biases of every layer as TensorBoard histograms."""

from __future__ import annotations

import lightning as L

from tsr.tensorboard.writer import tensorboard_writer


class WeightHistograms(L.Callback):
    """`weights/<layer>.weight`, `weights/<layer>.bias`... every `every_n_epochs` epochs."""

    def __init__(self, every_n_epochs: int = 1) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs={every_n_epochs} must be >= 1")
        self.every_n_epochs = every_n_epochs

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        # at the step Lightning gives epoch-end metrics (global step - 1): TensorBoard
        # drops events when a later event's step goes back in time
        step = max(trainer.global_step - 1, 0)
        for name, parameter in pl_module.named_parameters():
            writer.add_histogram(f"weights/{name}", parameter.detach().float().cpu(), step)
