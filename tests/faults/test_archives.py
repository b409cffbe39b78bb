"""Fault suite, archives: missing, truncated, wrong checksum, unsafe entries, a missing
class folder, an unreadable image, a failed download.

Every failure must be one clear DataError naming the file, and leave no cache.
"""

from __future__ import annotations

import functools
import http.server
import stat
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tsr.data.archives import (
    ARCHIVES,
    TEST_ARCHIVE,
    TRAIN_ARCHIVE,
    fetch_archives,
    sha256_of,
)
from tsr.data.gtsrb import TRAIN_DIR, cache_path, load_gtsrb
from tsr.errors import DataError


def _load(mirror: Path, cache: Path, **kwargs):
    fetch = functools.partial(fetch_archives, cache, mirror, **kwargs)
    return load_gtsrb(cache, fetch)


def _assert_no_cache(cache: Path) -> None:
    leftovers = list(cache.glob("*")) if cache.exists() else []
    assert leftovers == [], f"partial files left behind: {leftovers}"


def test_mini_mirror_decodes_every_class(mini_mirror: Path, tmp_path: Path) -> None:
    data = _load(mini_mirror, tmp_path / "cache")
    assert set(np.unique(data.train.labels)) == set(range(43))
    assert len(np.unique(data.train.tracks)) == 43  # one track per class
    assert data.train.images.shape[1:] == (32, 32, 3)
    assert len(data.test) == 86
    assert cache_path(tmp_path / "cache", 32).is_file()


def test_missing_mirror_names_the_folder_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist.*GTSRB_MIRROR"):
        _load(tmp_path / "nowhere", tmp_path / "cache")
    _assert_no_cache(tmp_path / "cache")
    (tmp_path / "a-zip.zip").write_bytes(b"PK")  # the archive given instead of its folder
    with pytest.raises(DataError, match=r"a-zip.zip is a file, not a folder.*GTSRB_MIRROR"):
        _load(tmp_path / "a-zip.zip", tmp_path / "cache")


def test_missing_archive_in_mirror_is_named(mini_mirror: Path, tmp_path: Path) -> None:
    (mini_mirror / TEST_ARCHIVE).unlink()
    with pytest.raises(DataError, match=TEST_ARCHIVE):
        _load(mini_mirror, tmp_path / "cache")
    _assert_no_cache(tmp_path / "cache")


def test_checksum_mismatch_from_sha256sums(mini_mirror: Path, tmp_path: Path) -> None:
    sums = (mini_mirror / "SHA256SUMS").read_text()
    good = sha256_of(mini_mirror / TRAIN_ARCHIVE)
    (mini_mirror / "SHA256SUMS").write_text(sums.replace(good, "0" * 64))
    with pytest.raises(DataError, match=f"SHA-256 mismatch for .*{TRAIN_ARCHIVE}"):
        _load(mini_mirror, tmp_path / "cache")
    _assert_no_cache(tmp_path / "cache")


def test_configured_checksum_is_checked(mini_mirror: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        _load(mini_mirror, tmp_path / "cache", sha256={TEST_ARCHIVE: "ab" * 32})
    good = {name: sha256_of(mini_mirror / name) for name in ARCHIVES}
    assert len(_load(mini_mirror, tmp_path / "cache", sha256=good).test) == 86


def test_truncated_archive(mini_mirror: Path, tmp_path: Path) -> None:
    path = mini_mirror / TRAIN_ARCHIVE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    (mini_mirror / "SHA256SUMS").unlink()  # reach the zip check, not the checksum
    with pytest.raises(DataError, match=f"{TRAIN_ARCHIVE} is not a readable zip.*truncated"):
        _load(mini_mirror, tmp_path / "cache")
    _assert_no_cache(tmp_path / "cache")


def test_corrupt_member_is_detected_by_crc(mini_mirror: Path, tmp_path: Path) -> None:
    path = mini_mirror / TRAIN_ARCHIVE
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[5]
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
    data[offset] ^= 0xFF  # one flipped byte inside a stored image
    path.write_bytes(bytes(data))
    (mini_mirror / "SHA256SUMS").unlink()
    with pytest.raises(DataError, match="corrupt"):
        _load(mini_mirror, tmp_path / "cache")
    _assert_no_cache(tmp_path / "cache")


def _rewrite_train(mirror: Path, extra: zipfile.ZipInfo | None = None, drop: str = "") -> None:
    path = mirror / TRAIN_ARCHIVE
    original = path.read_bytes()
    tmp = path.with_suffix(".orig")
    tmp.write_bytes(original)
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if not (drop and info.filename.startswith(drop)):
                dst.writestr(info, src.read(info))
        if extra is not None:
            dst.writestr(extra, b"pwned")
    tmp.unlink()
    (mirror / "SHA256SUMS").unlink()


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("../../evil.txt", r"'\.\.'"),
        ("<tmp>/outside/evil.txt", "absolute path"),
        ("link", "symbolic link"),
    ],
)
def test_unsafe_entries_are_rejected(mini_mirror: Path, tmp_path: Path, entry, reason) -> None:
    """Zip-slip entries: rejected by name before anything is read or written; nothing
    lands outside the data folder (or anywhere: no file besides the test's own)."""
    entry = entry.replace("<tmp>", str(tmp_path))
    info = zipfile.ZipInfo(entry)
    if entry == "link":
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
    _rewrite_train(mini_mirror, extra=info)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(DataError, match=f"unsafe entry .*{reason}"):
        _load(mini_mirror, tmp_path / "data" / "cache")
    _assert_no_cache(tmp_path / "data" / "cache")
    created = [p for p in sorted(tmp_path.rglob("*")) if p not in before]
    assert all(p.is_dir() for p in created), created  # at most the (empty) cache folders
    assert not (tmp_path / "outside").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_archive_missing_a_class_folder(mini_mirror: Path, tmp_path: Path) -> None:
    _rewrite_train(mini_mirror, drop=f"{TRAIN_DIR}/00017/")
    with pytest.raises(DataError, match=r"lacks .*00017/GT-00017\.csv"):
        _load(mini_mirror, tmp_path / "cache")
    _assert_no_cache(tmp_path / "cache")


def test_unreadable_image_is_named(mini_mirror: Path, tmp_path: Path) -> None:
    path = mini_mirror / TRAIN_ARCHIVE
    tmp = path.with_suffix(".orig")
    path.rename(tmp)
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w") as dst:
        victim = next(i.filename for i in src.infolist() if i.filename.endswith(".ppm"))
        for info in src.infolist():
            dst.writestr(info, b"not an image" if info.filename == victim else src.read(info))
    (mini_mirror / "SHA256SUMS").unlink()
    with pytest.raises(DataError, match=f"{victim} is not a readable image"):
        _load(mini_mirror, tmp_path / "cache")
    _assert_no_cache(tmp_path / "cache")


@pytest.fixture
def http_mirror(mini_mirror: Path):
    """Serve the small mirror over HTTP on 127.0.0.1, as the official site serves the archives."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mini_mirror))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", mini_mirror
    server.shutdown()
    server.server_close()


def test_download_fetches_and_verifies(http_mirror, tmp_path: Path) -> None:
    url, served = http_mirror
    sums = {name: sha256_of(served / name) for name in ARCHIVES}
    paths = fetch_archives(tmp_path / "dl", mirror=None, url=url, sha256=sums)
    assert {p.name for p in paths.values()} == set(ARCHIVES)
    for name, path in paths.items():
        assert sha256_of(path) == sums[name]
    assert not list((tmp_path / "dl").glob("*.part"))


def test_failed_download_leaves_nothing(http_mirror, tmp_path: Path) -> None:
    url, served = http_mirror
    (served / TEST_ARCHIVE).unlink()  # the server answers 404 for it
    with pytest.raises(DataError, match=f"could not download .*{TEST_ARCHIVE}.*GTSRB_MIRROR"):
        fetch_archives(tmp_path / "dl", mirror=None, url=url)
    assert not (tmp_path / "dl" / TEST_ARCHIVE).exists()
    assert not list((tmp_path / "dl").glob("*.part"))
