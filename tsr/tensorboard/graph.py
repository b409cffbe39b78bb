"""The model graph in TensorBoard's Graphs tab."""

from __future__ import annotations

import lightning as L
import torch

from tsr.tensorboard.writer import tensorboard_writer


class ModelGraph(L.Callback):
    """Traces the model once on one raw image at the start of training.

    (Lightning's own `log_graph` traces again for every `trainer.test`, which leaves
    TensorBoard with duplicate graphs.)
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        example = getattr(pl_module, "example_input_array", None)
        if writer is None or example is None:
            return
        was_training = pl_module.training
        pl_module.eval()  # trace with batch-norm running statistics, touching nothing
        try:
            with torch.no_grad():
                writer.add_graph(pl_module, example.to(pl_module.device))
        finally:
            pl_module.train(was_training)
