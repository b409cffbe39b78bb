"""Atomic `.npz` caches: a reader never sees a half-written file.

Arrays go to a temporary file in the same folder, are flushed to disk, and
then renamed over the target. `.npz` members carry CRC-32 sums that zipfile
checks on read, so a cache damaged on disk is detected, not silently used.
"""

from __future__ import annotations

import errno
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tsr.errors import DataError

# What np.load raises on a truncated, corrupt or foreign .npz file.
CORRUPT_CACHE_ERRORS = (zipfile.BadZipFile, ValueError, KeyError, EOFError, OSError)


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write `arrays` to `path` as an uncompressed .npz, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a cache is as readable as any file
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        hint = "free some disk space" if exc.errno == errno.ENOSPC else "check the folder"
        raise DataError(
            f"could not write cache {path} ({exc}); {hint} or point data.data_dir elsewhere. "
            "Any previous cache is left as it was."
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read `keys` fully (verifying CRCs); raises one of CORRUPT_CACHE_ERRORS if damaged."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in keys}
