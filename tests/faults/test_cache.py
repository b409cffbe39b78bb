"""Fault suite, the decoded cache: truncated or altered on disk it is detected by its
checksum and rebuilt, never used; a full disk while writing it is a clear error and
leaves the previous cache intact."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from tsr.data.archives import fetch_archives
from tsr.data.gtsrb import cache_path, load_gtsrb
from tsr.errors import DataError


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
