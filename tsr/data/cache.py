"""Atomic `.npz` caches: a reader never sees a half-written file.

Arrays go through tsr.io.atomic's writer (a temporary file in the same folder,
flushed to disk, renamed over the target). `.npz` members carry CRC-32 sums that zipfile
checks on read, so a cache damaged on disk is detected, not silently used.
"""

from __future__ import annotations

import errno
import zipfile
from pathlib import Path

import numpy as np

from tsr.errors import DataError
from tsr.io.atomic import atomic_file

# What np.load raises on a truncated, corrupt or foreign .npz file.
CORRUPT_CACHE_ERRORS = (zipfile.BadZipFile, ValueError, KeyError, EOFError, OSError)


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write `arrays` to `path` as an uncompressed .npz, atomically and durably."""
    try:
        with atomic_file(path, durable=True) as f:
            np.savez(f, **arrays)
    except OSError as exc:
        hint = "free some disk space" if exc.errno == errno.ENOSPC else "check the folder"
        raise DataError(
            f"could not write cache {path} ({exc}); {hint} or point data.data_dir elsewhere. "
            "Any previous cache is left as it was."
        ) from exc


def load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read `keys` fully (verifying CRCs); raises one of CORRUPT_CACHE_ERRORS if damaged."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in keys}
