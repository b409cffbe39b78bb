"""Obtain the three official GTSRB archives: from a local mirror or by download.

The archives are never unpacked to disk: `tsr.data.gtsrb` decodes the images
straight out of them. Before that, every archive is checked here: present, a
readable zip, its SHA-256 as configured, and no entry that could escape a
folder if it were extracted (absolute path, `..`, symbolic link).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
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
# MD5s of the official archives as torchvision's `GTSRB` dataset pins them, checked on every
# archive downloaded from OFFICIAL_URL (a mirror has its own SHA256SUMS). No authoritative
# checksum of the training archive is published (torchvision downloads another file,
# GTSRB-Training_fixed.zip), so it is checked by its layout and annotations only; pin it
# yourself with data.sha256.
OFFICIAL_MD5 = {
    TEST_ARCHIVE: "c7e4e6327067d32654124b0fe9e82185",
    TEST_LABELS_ARCHIVE: "fe31e9c9270bbcd7b84b7f21a9d9d9e5",
}


def sha256_of(path: Path, chunk: int = 1 << 20, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_of(Path(path))


def archive_digest(path: Path) -> str:
    """SHA-256 of an archive, hashed once per process while the file is unchanged."""
    info = Path(path).stat()
    return _digest(str(Path(path).resolve()), info.st_size, info.st_mtime_ns)


def read_checksum_file(path: Path) -> dict[str, str]:
    """Parse a `sha256sum`-style file (`<hex>  <name>` or `<hex> *<name>` per line; `./name`
    as `sha256sum ./*.zip` writes it is `name`). A line that is not that is an error: a
    checksum file that cannot be read must not let an archive through unchecked."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); regenerate it with "
            "`sha256sum GTSRB_Final_*.zip > SHA256SUMS` or delete it."
        ) from None
    sums = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")
        if name.startswith("./"):
            name = name[2:]
        if len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest) or not name:
            raise DataError(
                f"{path} line {number} is not '<sha256>  <file name>': {line[:80]!r}; "
                "regenerate the file with `sha256sum GTSRB_Final_*.zip > SHA256SUMS`."
            )
        sums[name] = digest.lower()
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


# No member of a GTSRB archive comes near this (the largest image is ~200 kB, the largest
# CSV ~1 MB): a bigger one is refused before it is inflated (a zip bomb would be read whole)
MAX_MEMBER_BYTES = 64 << 20


def read_member(archive: zipfile.ZipFile, name: str, archive_path: Path, listed_in: str) -> bytes:
    """One member's bytes, or a DataError naming the archive, the member and the fix
    (missing, corrupt, or larger than any genuine member)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise DataError(
            f"{archive_path} lacks {name}{listed_in}: it is not the official GTSRB archive "
            "layout, or it is incomplete. Delete it and fetch it again."
        ) from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise DataError(
            f"{archive_path}: {name} inflates to {info.file_size / 2**20:.0f} MiB, more than "
            f"any GTSRB file ({MAX_MEMBER_BYTES >> 20} MiB at most); it is not a genuine "
            "archive. Replace it with the official one."
        )
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise DataError(
            f"{archive_path}: {name} is corrupt ({exc}). Delete the archive and fetch it again."
        ) from None


def open_archive(path: Path) -> zipfile.ZipFile:
    """Open a zip archive after rejecting corrupt files, unsafe and duplicate entries."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(
            f"{path} is not a readable zip archive ({exc}): it is truncated or corrupt. "
            "Delete it and fetch it again (or fix the mirror)."
        ) from exc
    seen: set[str] = set()
    for info in archive.infolist():
        reason = unsafe_reason(info)
        if reason is None and info.filename in seen:
            reason = "listed twice: which copy is read would be arbitrary"
        seen.add(info.filename)
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
    actual = archive_digest(path)
    if actual != expected.lower():
        raise DataError(
            f"SHA-256 mismatch for {path}: expected {expected}, got {actual}. "
            "The file is corrupt or not the expected release: delete it and fetch it again "
            "(or correct data.sha256)."
        )


def _download(url: str, dest: Path) -> None:
    """Download to `dest.part`, check it (every announced byte arrived, it is a zip archive,
    not an error page), then rename: a failed or cut-off download leaves neither `dest`
    nor a `.part` behind."""
    partial = dest.with_name(dest.name + ".part")
    problem = None
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            received = 0
            with progress_bar(f"download {dest.name}", total=total) as advance:
                while block := response.read(1 << 20):
                    out.write(block)
                    received += len(block)
                    advance(len(block))
        with open(partial, "rb") as f:
            head = f.read(512)
        if total is not None and received != total:
            problem = f"the response was cut off: {received} of {total} bytes arrived"
        elif not head.startswith(b"PK\x03\x04"):
            kind = "an HTML page" if b"<" in head[:64].lower() else "not a zip archive"
            problem = f"the server sent {kind} ({head[:60]!r}...), not the archive"
        elif not zipfile.is_zipfile(partial):
            problem = "the file that arrived is not a complete zip archive"
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"could not download {url} ({type(exc).__name__}: {exc}). Without internet access, "
            "point GTSRB_MIRROR (or data.mirror=) at a folder holding the three "
            "GTSRB_Final_*.zip archives."
        ) from None
    except BaseException:
        partial.unlink(missing_ok=True)  # Ctrl-C: nothing half-written stays
        raise
    if problem is not None:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"could not download {url}: {problem}. Nothing was kept; try again later, or point "
            "GTSRB_MIRROR at a folder holding the archives."
        )
    os.replace(partial, dest)


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
                f"GTSRB mirror folder {folder} "
                f"{'is a file, not a folder' if folder.exists() else 'does not exist'}. "
                "Set GTSRB_MIRROR (or data.mirror=) "
                "to the folder holding the GTSRB_Final_*.zip archives, or unset it to download "
                f"them from {url}."
            )
        if (folder / CHECKSUM_FILE).is_file():
            listed = read_checksum_file(folder / CHECKSUM_FILE)
            unlisted = [
                name for name in ARCHIVES if name not in listed and name not in (sha256 or {})
            ]
            if unlisted:
                raise DataError(
                    f"{folder / CHECKSUM_FILE} lists no checksum for {', '.join(unlisted)}, so "
                    "it could not be checked; add its line (`sha256sum <file> >> SHA256SUMS`) "
                    "or delete the checksum file."
                )
            expected.update(listed)
    else:
        folder = Path(download_dir)
        folder.mkdir(parents=True, exist_ok=True)
    expected.update(sha256 or {})

    paths = {}
    for name in ARCHIVES:
        path = folder / name
        downloaded = False
        if not path.is_file():
            if mirror is not None:
                raise DataError(
                    f"{name} is missing from the GTSRB mirror {folder}. Copy the official "
                    "archive there, or unset GTSRB_MIRROR / data.mirror to download it."
                )
            log.info("downloading %s%s", url, name)
            _download(url.rstrip("/") + "/" + name, path)
            downloaded = True
        if mirror is None and url == OFFICIAL_URL and name in OFFICIAL_MD5:
            md5 = sha256_of(path, algorithm="md5")
            if md5 != OFFICIAL_MD5[name]:
                if downloaded:  # what arrived is not the release: keep nothing of it
                    path.unlink()
                what = "It was deleted; run again" if downloaded else "Delete it and run again"
                raise DataError(
                    f"{path} is not the official archive: MD5 {md5}, the official one is "
                    f"{OFFICIAL_MD5[name]}. {what} to download it afresh (or use a mirror)."
                )
        _verify(path, expected.get(name))
        paths[name] = path
    return paths
