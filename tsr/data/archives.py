"""Obtain the three official GTSRB archives: from a local mirror or by download.

The archives are never unpacked to disk: `tsr.data.gtsrb` decodes the images
straight out of them. Before that, every archive is checked here: present, a
readable zip, its SHA-256 as configured, and no entry that could escape a
folder if it were extracted (absolute path, `..`, symbolic link).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from tsr.errors import DataError
from tsr.io.progress import progress_bar

log = logging.getLogger(__name__)

TRAIN_ARCHIVE = "GTSRB_Final_Training_Images.zip"
TEST_ARCHIVE = "GTSRB_Final_Test_Images.zip"
TEST_LABELS_ARCHIVE = "GTSRB_Final_Test_GT.zip"
ARCHIVES = (TRAIN_ARCHIVE, TEST_ARCHIVE, TEST_LABELS_ARCHIVE)

OFFICIAL_URL = "https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/"
CHECKSUM_FILE = "SHA256SUMS"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_checksum_file(path: Path) -> dict[str, str]:
    """Parse a `sha256sum`-style file (`<hex>  <name>` per line)."""
    sums = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why extracting this entry could write outside its folder, or None if it is safe."""
    name = info.filename
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "parent-directory component '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    return None


def open_archive(path: Path) -> zipfile.ZipFile:
    """Open a zip archive after rejecting corrupt files and unsafe entries."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(
            f"{path} is not a readable zip archive ({exc}): it is truncated or corrupt. "
            "Delete it and fetch it again (or fix the mirror)."
        ) from exc
    for info in archive.infolist():
        reason = unsafe_reason(info)
        if reason:
            archive.close()
            raise DataError(
                f"{path} holds an unsafe entry {info.filename!r} ({reason}); "
                "it is not a genuine GTSRB archive. Replace it with the official one."
            )
    return archive


def _verify(path: Path, expected: str | None) -> None:
    if not expected:
        return
    actual = sha256_of(path)
    if actual != expected.lower():
        raise DataError(
            f"SHA-256 mismatch for {path}: expected {expected}, got {actual}. "
            "The file is corrupt or not the expected release: delete it and fetch it again "
            "(or correct data.sha256)."
        )


def _download(url: str, dest: Path) -> None:
    """Download to `dest.part`, then rename: an interrupted download leaves no `dest`."""
    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bar(f"download {dest.name}", total=total) as advance:
                while block := response.read(1 << 20):
                    out.write(block)
                    advance(len(block))
        os.replace(partial, dest)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"could not download {url} ({exc}). Without internet access, point GTSRB_MIRROR "
            "(or data.mirror=) at a folder holding the three GTSRB_Final_*.zip archives."
        ) from exc


def fetch_archives(
    download_dir: Path,
    mirror: str | os.PathLike | None = None,
    url: str = OFFICIAL_URL,
    sha256: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Return the paths of the three archives, downloading the missing ones.

    With a mirror, the archives are read in place and its `SHA256SUMS` (if any)
    is checked; `sha256` (file name -> hex digest) adds or overrides sums.
    """
    expected: dict[str, str] = {}
    if mirror is not None:
        folder = Path(mirror).expanduser()
        if not folder.is_dir():
            raise DataError(
                f"GTSRB mirror folder {folder} does not exist. Set GTSRB_MIRROR (or data.mirror=) "
                "to the folder holding the GTSRB_Final_*.zip archives, or unset it to download "
                f"them from {url}."
            )
        if (folder / CHECKSUM_FILE).is_file():
            expected.update(read_checksum_file(folder / CHECKSUM_FILE))
    else:
        folder = Path(download_dir)
        folder.mkdir(parents=True, exist_ok=True)
    expected.update(sha256 or {})

    paths = {}
    for name in ARCHIVES:
        path = folder / name
        if not path.is_file():
            if mirror is not None:
                raise DataError(
                    f"{name} is missing from the GTSRB mirror {folder}. Copy the official "
                    "archive there, or unset GTSRB_MIRROR / data.mirror to download it."
                )
            log.info("downloading %s%s", url, name)
            _download(url.rstrip("/") + "/" + name, path)
        _verify(path, expected.get(name))
        paths[name] = path
    return paths
