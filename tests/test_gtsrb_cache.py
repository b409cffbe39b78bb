"""The decoded cache of the real data set: contents, warm loads, damage detection."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from tsr.data.archives import fetch_archives
from tsr.data.gtsrb import Gtsrb, cache_path, load_gtsrb
from tsr.errors import DataError


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


def test_images_are_rgb_not_bgr(gtsrb: Gtsrb) -> None:
    # "Stop" (14) and "No entry" (17) signs are mostly red: R > B on average
    for class_id in (14, 17):
        images = gtsrb.train.images[gtsrb.train.labels == class_id].astype(np.float32)
        assert images[..., 0].mean() > images[..., 2].mean() + 10


def test_each_data_type_is_cached_and_reloaded(cache_dir: Path, mirror: Path) -> None:
    def fail_fetch():
        raise AssertionError("archives read again although the cache exists")

    first = load_gtsrb(cache_dir, functools.partial(fetch_archives, cache_dir, mirror), "clahe")
    assert cache_path(cache_dir, 32, "clahe").is_file()
    again = load_gtsrb(cache_dir, fail_fetch, "clahe")
    np.testing.assert_array_equal(first.train.images, again.train.images)
    assert again.train.images.shape == (39209, 32, 32, 1)


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 3]))
    else:
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_damaged_cache_is_detected_and_rebuilt(
    mini_mirror: Path, tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    fetch = functools.partial(fetch_archives, tmp_path, mini_mirror)
    good = load_gtsrb(tmp_path, fetch)
    _damage(cache_path(tmp_path, 32), how)
    rebuilt = load_gtsrb(tmp_path, fetch)
    assert "damaged" in caplog.text
    np.testing.assert_array_equal(good.train.images, rebuilt.train.images)
    np.testing.assert_array_equal(good.test.labels, rebuilt.test.labels)


def test_damaged_data_type_cache_is_rebuilt(mini_mirror: Path, tmp_path: Path) -> None:
    fetch = functools.partial(fetch_archives, tmp_path, mini_mirror)
    good = load_gtsrb(tmp_path, fetch, "gray")
    _damage(cache_path(tmp_path, 32, "gray"), "flip")
    again = load_gtsrb(tmp_path, fetch, "gray")
    np.testing.assert_array_equal(good.train.images, again.train.images)


def test_failed_cache_write_keeps_previous_state(
    mini_mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full while writing: a clear error, the old cache intact, no temp file left."""
    import errno

    import tsr.data.cache as cache

    fetch = functools.partial(fetch_archives, tmp_path, mini_mirror)
    load_gtsrb(tmp_path, fetch)
    before = sorted(p.name for p in tmp_path.iterdir())

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache.np, "savez", disk_full)
    with pytest.raises(DataError, match="free some disk space"):
        load_gtsrb(tmp_path, fetch, "hist")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
