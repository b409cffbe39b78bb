"""Confusion matrix and per-class accuracy on the official test set."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from tsr.metrics.calibration import calibration_report
from tsr.tensorboard.figures import confusion_figure, per_class_accuracy_figure, reliability_figure
from tsr.tensorboard.writer import tensorboard_writer


class ConfusionMatrix(L.Callback):
    """After testing: figures `test/confusion_matrix` (43x43, row-normalised, class names),
    `test/per_class_accuracy` and `test/reliability` (the reliability diagram with its ECE),
    from the predictions the test loop already makes."""

    def __init__(self) -> None:
        self._matrix: MulticlassConfusionMatrix | None = None
        self._probs: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        n = pl_module.hparams.num_classes
        self._matrix = MulticlassConfusionMatrix(n, validate_args=False)
        self._probs, self._labels = [], []

    def on_test_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self._matrix is not None and isinstance(outputs, dict):
            self._matrix.update(outputs["preds"].cpu(), outputs["labels"].cpu())
            if "probs" in outputs:
                self._probs.append(outputs["probs"].float().cpu())
                self._labels.append(outputs["labels"].cpu())

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or self._matrix is None or not self._matrix.update_called:
            return
        matrix = self._matrix.compute().numpy()
        names = pl_module.hparams.class_names
        step = trainer.global_step
        writer.add_figure("test/confusion_matrix", confusion_figure(matrix, names), step)
        totals = matrix.sum(axis=1)
        accuracy = np.divide(np.diag(matrix), totals, out=np.zeros(len(totals)), where=totals > 0)
        writer.add_figure(
            "test/per_class_accuracy", per_class_accuracy_figure(accuracy, names), step
        )
        if self._probs:
            report = calibration_report(torch.cat(self._probs), torch.cat(self._labels))
            figure = reliability_figure(
                report["bins"], report["ece"], pl_module.hparams.get("name") or ""
            )
            writer.add_figure("test/reliability", figure, step)
