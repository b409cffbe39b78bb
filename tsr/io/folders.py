"""Output folders: whether one can be made and written before any work is done."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def nearest_existing(path: Path) -> Path:
    """`path` or its nearest ancestor that exists (where making it would start)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def folder_problem(folder: str, setting: str = "output_dir") -> str | None:
    """Why the output folder cannot be made or written, with the fix (`setting` names it);
    None when it can. Checked before any work: Hydra makes a command's folder before any tsr
    code runs and says so with a FileExistsError or FileNotFoundError traceback
    (`output_dir=/etc/passwd`, a read-only disk); tsr.bench wrote its results after minutes
    of measuring."""
    path = Path(folder)
    fix = f"name a folder you can write to ({setting}=...)"
    if path.exists() and not path.is_dir():
        return f"the output folder {folder} is a file: {fix}"
    parent = nearest_existing(path)
    if not parent.is_dir():
        return f"the output folder {folder} cannot be made: {parent} is a file: {fix}"
    try:  # made and removed again: writable, on a file system that takes folders
        os.rmdir(tempfile.mkdtemp(prefix=".tsr-check-", dir=parent))
    except OSError as exc:
        return f"the output folder {folder} cannot be made in {parent} ({exc.strerror}): {fix}"
    return None
