"""In-memory GTSRB samples, fetched a batch at a time.

The images are one uint8 (N, H, W, C) array: DataLoader workers forked from the
main process share it instead of copying it. `__getitems__` builds a whole
batch per call (one array index, one tensor), which removes the per-sample
Python and collate overhead that otherwise dominates on 32x32 images; only the
jitter itself runs per image.
"""

from __future__ import annotations

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from tsr.data.batched_jitter import BatchedAffineJitter

Batch = tuple[torch.Tensor, torch.Tensor]


class SignDataset(Dataset[Batch]):
    """Yields (uint8 images (B, C, H, W), int64 labels (B,)).

    Indices `i >= len(self)` (from `ClassBalancedSampler`) mean "sample
    `i - len(self)`, jittered": they are always passed through `extra_jitter`.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        jitter: A.Compose | None = None,
        extra_jitter: A.Compose | None = None,
        batched_jitter: BatchedAffineJitter | None = None,
    ) -> None:
        """`batched_jitter`, when given, replaces the albumentations pipelines (which
        must then be its affine transform alone): the batch's jittered images are warped
        together in one call instead of one albumentations call each."""
        self.images = images
        self.labels = labels
        self.jitter = jitter
        self.extra_jitter = extra_jitter or jitter
        self.batched_jitter = batched_jitter
        self.on_device: tuple[torch.Tensor, torch.Tensor] | None = None
        self._seeded_with: int | None = None

    def to(self, device: str | torch.device) -> SignDataset:
        """Keep the images (as uint8 N, C, H, W) and labels on `device` (`data.device`):
        batches are then cut and jittered there, with no host-to-device copies."""
        images = torch.from_numpy(self.images).permute(0, 3, 1, 2).contiguous()
        self.on_device = (images.to(device), torch.from_numpy(self.labels).to(device))
        return self

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Batch:
        images, labels = self.__getitems__([index])
        return images[0], labels[0]

    def _seed_jitter(self) -> None:
        # albumentations keeps its own generator, which forked workers would
        # share; seed it from torch's per-worker seed (set by the DataLoader
        # and by Lightning's seed_everything(workers=True)).
        seed = torch.initial_seed() % 2**32
        if seed != self._seeded_with:
            for pipeline in {id(p): p for p in (self.jitter, self.extra_jitter) if p}.values():
                pipeline.set_random_seed(seed)
            self._seeded_with = seed

    def __getitems__(self, indices: list[int]) -> Batch:
        index = np.asarray(indices, dtype=np.int64)
        n = len(self.labels)
        is_extra = index >= n
        base = index % n
        if self.on_device is not None or self.batched_jitter is not None:
            if self.on_device is not None:  # see `to`
                all_images, all_labels = self.on_device
                at = torch.from_numpy(base).to(all_images.device)
                images, labels = all_images[at], all_labels[at]
            else:
                images = torch.from_numpy(self.images[base]).permute(0, 3, 1, 2)
                labels = torch.from_numpy(self.labels[base])
            selected = is_extra if self.jitter is None else np.ones(len(index), dtype=bool)
            if self.batched_jitter is not None and selected.any():
                self.batched_jitter.seed(torch.initial_seed() % 2**32)
                images = self.batched_jitter(images, selected, base)
            return images, labels
        batch = self.images[base]  # a copy: jitter writes into it
        if self.jitter is not None or (is_extra.any() and self.extra_jitter is not None):
            self._seed_jitter()
            for i in range(len(batch)):
                pipeline = self.extra_jitter if is_extra[i] else self.jitter
                if pipeline is not None:
                    batch[i] = pipeline(image=batch[i])["image"]
        images = torch.from_numpy(batch).permute(0, 3, 1, 2)
        return images, torch.from_numpy(self.labels[base])


def collate_batch(batch: Batch) -> Batch:
    """`SignDataset.__getitems__` already returns a batch."""
    return batch
