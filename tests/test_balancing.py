"""Class rebalancing: per-class counts of one epoch, and the extras are jittered."""

from __future__ import annotations

import numpy as np
import pytest

from tsr.data.augmentation import build_jitter
from tsr.data.balancing import ClassBalancedSampler
from tsr.data.dataset import SignDataset
from tsr.data.gtsrb import Gtsrb
from tsr.data.settings import JitterSettings


@pytest.mark.parametrize("min_per_class", [0, 500, 1000, 3000])
def test_epoch_counts_per_class(gtsrb: Gtsrb, min_per_class: int) -> None:
    labels = gtsrb.train.labels
    sampler = ClassBalancedSampler(labels, min_per_class, num_classes=43, seed=0)
    indices = np.fromiter(iter(sampler), dtype=np.int64)
    assert len(indices) == len(sampler)
    counts = np.bincount(labels[indices % len(labels)], minlength=43)
    original = np.bincount(labels, minlength=43)
    np.testing.assert_array_equal(counts, np.maximum(original, min_per_class))
    # every original sample appears exactly once; extras are flagged (index >= n)
    np.testing.assert_array_equal(np.sort(indices[indices < len(labels)]), np.arange(len(labels)))
    assert (indices >= len(labels)).sum() == np.maximum(min_per_class - original, 0).sum()


def test_seed_table_sizes(gtsrb: Gtsrb) -> None:
    """The seed's 3000-per-class epoch: 43 x 3000 = 129,000 samples on the full training set."""
    sampler = ClassBalancedSampler(gtsrb.train.labels, 3000, num_classes=43)
    assert len(sampler) == 129_000


def test_extras_change_between_epochs_and_are_shuffled(gtsrb: Gtsrb) -> None:
    sampler = ClassBalancedSampler(gtsrb.train.labels, 1000, num_classes=43, seed=0)
    first = sampler.epoch_indices()
    again = sampler.epoch_indices()
    np.testing.assert_array_equal(first, again)  # same epoch, same draws
    sampler.set_epoch(1)
    second = sampler.epoch_indices()
    n = len(gtsrb.train.labels)
    assert not np.array_equal(np.sort(first[first >= n]), np.sort(second[second >= n]))
    # shuffled: classes are not stacked as in the archive
    assert len(np.unique(gtsrb.train.labels[first[:200] % n])) > 30


def test_extra_samples_are_jittered_even_with_jitter_off(gtsrb: Gtsrb) -> None:
    images, labels = gtsrb.train.images[:300], gtsrb.train.labels[:300]
    jitter = build_jitter(JitterSettings(affine=1.0))
    dataset = SignDataset(images, labels, jitter=None, extra_jitter=jitter)
    originals, _ = dataset.__getitems__(list(range(10)))
    extras, extra_labels = dataset.__getitems__([i + 300 for i in range(10)])
    np.testing.assert_array_equal(originals.permute(0, 2, 3, 1).numpy(), images[:10])
    assert (extras != originals).flatten(1).any(1).all()
    np.testing.assert_array_equal(extra_labels.numpy(), labels[:10])
