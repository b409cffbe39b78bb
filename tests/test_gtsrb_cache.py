"""The decoded cache of the real data set: contents, warm loads, damage detection."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from tsr.data.archives import fetch_archives
from tsr.data.gtsrb import Gtsrb, cache_path, load_gtsrb


@pytest.mark.real_data
def test_full_dataset_as_published(gtsrb: Gtsrb) -> None:
    train, test = gtsrb.train, gtsrb.test
    assert train.images.shape == (39209, 32, 32, 3) and train.images.dtype == np.uint8
    assert test.images.shape == (12630, 32, 32, 3)
    counts = np.bincount(train.labels, minlength=43)
    assert len(counts) == 43 and counts.min() == 210 and counts.max() == 2250
    assert len(np.unique(train.tracks)) == 1307
    assert set(np.unique(test.labels)) == set(range(43))
    assert (test.tracks == -1).all()
    # ROIs (original pixels) scale into the 32x32 image
    rois = train.rois_scaled()
    assert (rois >= 0).all() and (rois <= 32).all()
    assert (rois[:, 2] > rois[:, 0]).all() and (rois[:, 3] > rois[:, 1]).all()


@pytest.mark.real_data
def test_images_are_rgb_not_bgr(gtsrb: Gtsrb) -> None:
    # "Stop" (14) and "No entry" (17) signs are mostly red: R > B on average
    for class_id in (14, 17):
        images = gtsrb.train.images[gtsrb.train.labels == class_id].astype(np.float32)
        assert images[..., 0].mean() > images[..., 2].mean() + 10


@pytest.mark.real_data
def test_each_data_type_is_cached_and_reloaded(cache_dir: Path, mirror: Path, monkeypatch) -> None:
    fetch = functools.partial(fetch_archives, cache_dir, mirror)
    first = load_gtsrb(cache_dir, fetch, "clahe")
    assert cache_path(cache_dir, 32, "clahe").is_file()

    def fail(*args, **kwargs):
        raise AssertionError("images decoded or preprocessed again although the cache exists")

    monkeypatch.setattr("tsr.data.gtsrb.decode_archives", fail)
    monkeypatch.setattr("tsr.data.gtsrb.preprocess", fail)
    again = load_gtsrb(cache_dir, fetch, "clahe")
    np.testing.assert_array_equal(first.train.images, again.train.images)
    assert again.train.images.shape == (39209, 32, 32, 1)
