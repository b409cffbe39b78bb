"""The validation images the model gets most confidently wrong, with class names."""

from __future__ import annotations

import lightning as L

from tsr.tensorboard.figures import mistakes_figure
from tsr.tensorboard.writer import predict_split, tensorboard_writer


class WorstMisclassified(L.Callback):
    """At the end of training: figure `val/worst_misclassified` (true, predicted, confidence)."""

    def __init__(self, count: int = 25) -> None:
        self.count = count

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or self.count < 1 or trainer.datamodule is None:
            return
        result = predict_split(pl_module, trainer.datamodule.val_dataloader())
        confidence, predicted = result.probs.max(dim=1)
        wrong = (predicted != result.labels).nonzero().flatten()
        worst = wrong[confidence[wrong].argsort(descending=True)][: self.count]
        figure = mistakes_figure(
            result.images[worst],
            result.labels[worst].tolist(),
            predicted[worst].tolist(),
            confidence[worst].tolist(),
            pl_module.hparams.class_names,
        )
        writer.add_figure("val/worst_misclassified", figure, trainer.global_step)
