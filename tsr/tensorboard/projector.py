"""The embedding projector: penultimate-layer features of validation images, with a sprite."""

from __future__ import annotations

import lightning as L

from tsr.tensorboard.writer import predict_split, tensorboard_writer


class EmbeddingProjector(L.Callback):
    """At the end of training: `val_features` in TensorBoard's Projector tab.

    Each point is one validation image (a class-stratified, seeded sample of `max_samples`:
    every class is present), its feature vector the
    input of the backbone's last linear layer; metadata columns are the true class,
    its name and the predicted class; the sprite shows the image itself.
    """

    def __init__(self, max_samples: int = 2000) -> None:
        self.max_samples = max_samples

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or self.max_samples < 1 or trainer.datamodule is None:
            return
        datamodule = trainer.datamodule
        # a class-stratified sample (the split is in class order: its first N images would
        # cover the first classes only); a data module without one gives its first N images
        sample = getattr(datamodule, "val_sample_dataloader", None)
        loader = sample(self.max_samples) if sample else datamodule.val_dataloader()
        result = predict_split(pl_module, loader, limit=self.max_samples, features=True)
        names = pl_module.hparams.class_names
        predicted = result.probs.argmax(dim=1)
        metadata = [
            [str(t), names[t], names[p]]
            for t, p in zip(result.labels.tolist(), predicted.tolist(), strict=True)
        ]
        sprite = result.images.float() / 255
        if sprite.shape[1] == 1:
            sprite = sprite.expand(-1, 3, -1, -1)
        writer.add_embedding(
            result.features,
            metadata=metadata,
            metadata_header=["class", "name", "predicted"],
            label_img=sprite.contiguous(),
            global_step=trainer.global_step,
            tag="val_features",
        )
        writer.flush()
