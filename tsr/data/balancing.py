"""Class rebalancing: every epoch holds at least `min_per_class` samples of each class.

The seed writeup added jittered copies of under-represented classes until each
had N images. Here the copies are drawn afresh every epoch (seeded by epoch),
so no fixed set of duplicates is memorised. An extra draw of sample `i` is
yielded as index `i + n`: `SignDataset` reads such indices as "sample i, always
jittered".
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


def extra_counts(labels: np.ndarray, min_per_class: int, num_classes: int) -> np.ndarray:
    """How many extra draws each class needs to reach `min_per_class`."""
    counts = np.bincount(labels, minlength=num_classes)
    return np.maximum(min_per_class - counts, 0) * (counts > 0)


class ClassBalancedSampler(Sampler[int]):
    """All samples once per epoch, plus extra draws of small classes, shuffled."""

    def __init__(
        self, labels: np.ndarray, min_per_class: int, num_classes: int, seed: int = 0
    ) -> None:
        self.labels = np.asarray(labels)
        self.seed = seed
        self.epoch = 0
        self.extras = extra_counts(self.labels, min_per_class, num_classes)
        self._by_class = [np.flatnonzero(self.labels == c) for c in range(num_classes)]

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels) + int(self.extras.sum())

    def epoch_indices(self) -> np.ndarray:
        rng = np.random.default_rng((self.seed, self.epoch))
        n = len(self.labels)
        parts = [np.arange(n)]
        for members, extra in zip(self._by_class, self.extras, strict=True):
            if extra:
                parts.append(rng.choice(members, size=int(extra), replace=True) + n)
        indices = np.concatenate(parts)
        rng.shuffle(indices)
        return indices

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices().tolist())
