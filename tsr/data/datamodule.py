"""The GTSRB LightningDataModule: archives -> cache -> data type -> split -> loaders.

Train: the training tracks, jittered, rebalanced to `min_per_class`.
Val: held-out whole tracks of the training archive. Test: the official
12,630-image test set. Every value is checked in `__init__`, before any
data is touched.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from tsr.config.devices import resolve_device
from tsr.config.schema import validate
from tsr.data.archives import fetch_archives
from tsr.data.augmentation import build_jitter
from tsr.data.balancing import ClassBalancedSampler, extra_counts
from tsr.data.batched_jitter import BatchedAffineJitter
from tsr.data.classes import CLASS_NAMES, NUM_CLASSES
from tsr.data.dataset import SignDataset, collate_batch
from tsr.data.gtsrb import Gtsrb, Split, load_gtsrb
from tsr.data.preprocessing import channel_stats, num_channels
from tsr.data.settings import DataSettings
from tsr.data.split import split_by_track, stratified_sample
from tsr.errors import ConfigError

log = logging.getLogger(__name__)


def default_num_workers() -> int:
    """Jitter workers that do not starve training: none on a 2-core machine (workers
    there compete with the two compute threads and cost more than they give),
    about half the cores elsewhere."""
    return min(8, max(0, (os.cpu_count() or 1) // 2 - 1))


class GtsrbDataModule(L.LightningDataModule):
    """Takes the `data.*` settings as keywords (`tsr.data.settings.DataSettings`: their
    defaults, types and ranges); a bad value raises ConfigError here, before any data
    is read."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        settings = validate(DataSettings, options, "data")
        self.settings = settings
        # the data.* settings go into checkpoints (Lightning's datamodule_hyper_parameters):
        # tsr.evaluate split=val rebuilds the validation split of a checkpoint's run from them
        self.save_hyperparameters(settings.model_dump(mode="json"))
        self.in_channels = num_channels(settings.preprocessing)
        self.preprocessing = settings.preprocessing
        self.data_dir = Path(settings.data_dir)
        self.mirror = settings.mirror or None
        self.url = settings.url
        self.sha256 = dict(settings.sha256)
        self.image_size = settings.image_size
        self.val_fraction = settings.val_fraction
        self.split_seed = settings.split_seed
        self.min_per_class = settings.min_per_class
        self.jitter = settings.jitter
        self.batch_size = settings.batch_size
        self.eval_batch_size = settings.eval_batch_size
        self.num_workers = (
            default_num_workers() if settings.num_workers is None else settings.num_workers
        )
        cores = os.cpu_count() or 1
        if self.num_workers > cores:
            log.warning(
                "data.num_workers=%d is more than the %d cores here: using %d (set it to at "
                "most the core count to silence this)",
                self.num_workers,
                cores,
                cores,
            )
            self.num_workers = cores
        # null: the data set stays in host memory
        device = settings.device
        self.device = None if device is None else str(resolve_device(device, "data.device", "null"))
        if self.device is not None:
            self.num_workers = 0  # batches are cut on the device, in the main process
        pin_memory = settings.pin_memory
        self.pin_memory = (
            torch.cuda.is_available() and self.device is None if pin_memory is None else pin_memory
        )
        self.persistent_workers = settings.persistent_workers and self.num_workers > 0
        self.seed = settings.seed
        self.num_classes = NUM_CLASSES
        self.class_names = CLASS_NAMES
        self.data: Gtsrb | None = None
        # the framing jitter's whole training images (data.jitter.roi_margin), from load()
        self._whole_train: Split | None = None
        self.train_set: SignDataset | None = None
        self.val_set: SignDataset | None = None
        self.test_set: SignDataset | None = None
        self.mean: list[float] = []
        self.std: list[float] = []

    def load(self) -> Gtsrb:
        """The decoded data set as this data type (cached after the first call)."""
        if self.data is None:
            fetch = functools.partial(
                fetch_archives, self.data_dir, self.mirror, self.url, self.sha256
            )
            data = load_gtsrb(self.data_dir, fetch, self.preprocessing, self.image_size)
            margin = self.settings.roi_crop
            if margin is not None:
                if self.jitter.framing is not None:
                    # the framing jitter crops these anew each time they are drawn
                    self._whole_train = data.train
                data = Gtsrb(train=data.train.cropped(margin), test=data.test.cropped(margin))
            self.data = data
        return self.data

    def split_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices into the official training set of the training and the validation
        images: whole tracks held out per class (data.val_fraction, data.split_seed)."""
        train = self.load().train
        return split_by_track(train.labels, train.tracks, self.val_fraction, self.split_seed)

    def prepare_data(self) -> None:
        """Build the caches once (rank 0 under DDP)."""
        self.load()

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        data = self.load()
        train_idx, val_idx = self.split_indices()
        if self.settings.train_on_val:
            log.warning(
                "data.train_on_val=true: the %d validation images are trained on too; "
                "val/* scores training images from here on",
                len(val_idx),
            )
            train_idx = np.sort(np.concatenate([train_idx, val_idx]))
        train_images = data.train.images[train_idx]
        self.mean, self.std = channel_stats(train_images)  # as framed at data.roi_crop
        jitter = build_jitter(self.jitter)
        use_batched = self.jitter.batched and self.jitter.batchable()
        boxes = None
        whole = self._whole_train
        if whole is not None:  # the framing jitter: whole images and their signs' boxes
            train_images, boxes = whole.images[train_idx], whole.rois_scaled()[train_idx]
        self.train_set = SignDataset(
            train_images,
            data.train.labels[train_idx],
            jitter=jitter if self.jitter.enabled else None,
            extra_jitter=jitter,
            batched_jitter=BatchedAffineJitter(self.jitter, boxes) if use_batched else None,
        )
        self.val_set = SignDataset(data.train.images[val_idx], data.train.labels[val_idx])
        self.test_set = SignDataset(data.test.images, data.test.labels)
        if self.device is not None:
            if self.train_set.jitter is not None and self.train_set.batched_jitter is None:
                raise ConfigError(
                    f"data.device={self.device} needs the batched jitter: set "
                    "data.jitter.batched=true and keep the jitter to the affine transform "
                    "with border replicate or constant (or turn the jitter off)"
                )
            for dataset in (self.train_set, self.val_set, self.test_set):
                dataset.to(self.device)
        self._log_summary(data, train_idx, val_idx)

    def _log_summary(self, data: Gtsrb, train_idx: np.ndarray, val_idx: np.ndarray) -> None:
        train_labels = data.train.labels[train_idx]
        counts = np.bincount(train_labels, minlength=self.num_classes)
        extras = extra_counts(train_labels, self.min_per_class, self.num_classes)
        log.info(
            "GTSRB %s: train %d images (%d tracks), val %d (%d tracks), test %d; "
            "image %s; %d classes; train images per class %d..%d; "
            "min_per_class=%d adds %d jittered samples per epoch (epoch of %d)",
            self.preprocessing,
            len(train_idx),
            len(np.unique(data.train.tracks[train_idx])),
            len(val_idx),
            len(np.unique(data.train.tracks[val_idx])),
            len(data.test),
            "x".join(map(str, data.train.images.shape[1:])),
            self.num_classes,
            counts.min(),
            counts.max(),
            self.min_per_class,
            extras.sum(),
            len(train_idx) + extras.sum(),
        )
        if self.settings.roi_crop is not None:
            log.info(
                "every image is its sign's box (the CSVs' ROI) grown by %g %% on each side, "
                "resized to %d px (data.roi_crop=%g)",
                100 * self.settings.roi_crop,
                self.image_size,
                self.settings.roi_crop,
            )
        if self.jitter.framing is not None:
            low, high = self.jitter.framing
            log.info(
                "framing jitter: each training image cropped to its sign's box grown by "
                "%g-%g %% on each side, drawn anew every time (data.jitter.roi_margin)",
                100 * low,
                100 * high,
            )
        log.info("train images per class: %s", dict(enumerate(counts.tolist())))
        log.info("input mean %s, std %s", np.round(self.mean, 4), np.round(self.std, 4))

    def _loader(self, dataset: SignDataset, batch_size: int, **kwargs: Any) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            collate_fn=collate_batch,
            pin_memory=self.pin_memory,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "call setup() first"
        sampler = ClassBalancedSampler(
            self.train_set.labels, self.min_per_class, self.num_classes, seed=self.seed
        )
        return self._loader(
            self.train_set,
            self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers,
        )

    # Evaluation batches are slices of memory: workers would only add copies.
    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None, "call setup() first"
        return self._loader(self.val_set, self.eval_batch_size)

    def val_sample_dataloader(self, count: int, seed: int = 0) -> DataLoader:
        """A class-stratified, seeded sample of `count` validation images (every class in
        proportion, at least one each): what the TensorBoard projector embeds."""
        assert self.val_set is not None, "call setup() first"
        indices = stratified_sample(np.asarray(self.val_set.labels), count, seed)
        return self._loader(Subset(self.val_set, indices.tolist()), self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        assert self.test_set is not None, "call setup() first"
        return self._loader(self.test_set, self.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()
