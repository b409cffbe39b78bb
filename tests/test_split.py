"""Validation split by track on the real training set."""

from __future__ import annotations

import numpy as np
import pytest

from tsr.data.gtsrb import Gtsrb
from tsr.data.split import split_by_track
from tsr.errors import ConfigError


@pytest.mark.real_data
@pytest.mark.parametrize("fraction", [0.1, 0.25])
def test_no_track_on_both_sides_and_every_class_on_both(gtsrb: Gtsrb, fraction: float) -> None:
    labels, tracks = gtsrb.train.labels, gtsrb.train.tracks
    train_idx, val_idx = split_by_track(labels, tracks, fraction, seed=0)
    assert len(train_idx) + len(val_idx) == len(labels)
    assert not set(tracks[train_idx]) & set(tracks[val_idx])
    assert set(labels[train_idx]) == set(labels[val_idx]) == set(range(43))
    held_out = len(np.unique(tracks[val_idx])) / len(np.unique(tracks))
    assert abs(held_out - fraction) < 0.05


def test_seeded(gtsrb: Gtsrb) -> None:
    labels, tracks = gtsrb.train.labels, gtsrb.train.tracks
    a = split_by_track(labels, tracks, 0.1, seed=0)[1]
    b = split_by_track(labels, tracks, 0.1, seed=0)[1]
    c = split_by_track(labels, tracks, 0.1, seed=1)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_fraction_out_of_range(gtsrb: Gtsrb, fraction: float) -> None:
    with pytest.raises(ConfigError, match="between 0 and 1"):
        split_by_track(gtsrb.train.labels, gtsrb.train.tracks, fraction, seed=0)
