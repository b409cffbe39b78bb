"""Grids of training images as the model gets them: after preprocessing, after jitter."""

from __future__ import annotations

import copy

import lightning as L
import numpy as np
import torch
from torchvision.utils import make_grid

from tsr.tensorboard.writer import tensorboard_writer


class SampleGrids(L.Callback):
    """At the start of training: `samples/preprocessed` and `samples/jittered`, one image
    per class (the model centres and normalises these uint8 images itself, so they are
    shown exactly as fed)."""

    def __init__(self, per_class: int = 1, seed: int = 0) -> None:
        self.per_class = per_class
        self.seed = seed

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        dataset = getattr(trainer.datamodule, "train_set", None)
        if writer is None or dataset is None:
            return
        rng = np.random.default_rng(self.seed)
        index = np.concatenate(
            [
                rng.choice(np.flatnonzero(dataset.labels == c), self.per_class, replace=False)
                for c in np.unique(dataset.labels)
            ]
        )
        plain = dataset.images[index]
        # a copy with its own seed: training's jitter draws stay as without this callback
        jitter = copy.deepcopy(dataset.extra_jitter)
        if jitter is not None:
            jitter.set_random_seed(self.seed)
        jittered = np.stack([jitter(image=img)["image"] for img in plain]) if jitter else plain
        for tag, batch in (("samples/preprocessed", plain), ("samples/jittered", jittered)):
            images = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2)
            grid = make_grid(images, nrow=max(1, int(np.ceil(np.sqrt(len(images))))), padding=2)
            writer.add_image(tag, grid, trainer.global_step)
