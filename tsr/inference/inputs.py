"""Turn `inputs=` (files, folders, glob patterns) into the list of images to classify.

A named file is always tried, whatever its extension (its reader decides); a folder
contributes its image files (by extension, recursively, sorted); a pattern its
matches. Entries that yield nothing become per-entry errors, not a failure of the run.
"""

from __future__ import annotations

import glob
import logging
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pbm", ".pnm", ".gif", ".tif", ".tiff"}
    | {".webp"}
)


def display_name(path: str | Path) -> str:
    """A path as printable UTF-8 text: bytes that are not UTF-8 (a file name from another
    system) shown as \\x.. escapes, so tables, CSV and JSON can always hold it."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class InputEntry:
    """One image to classify (`path`), or one entry that gave none (`error`)."""

    source: str
    path: Path | None = None
    error: str | None = None


def _folder_images(folder: Path) -> list[Path]:
    """The image files under `folder` (symbolic links to folders are not followed, so a
    link loop cannot make the walk endless). Files of other kinds are passed over and
    counted in one log line, so a folder of phone photos in a format tsr does not read
    (.heic) is not silently left out."""
    found, passed_over = [], Counter()
    for root, _dirs, files in os.walk(folder):  # followlinks=False
        for name in files:
            path = Path(root) / name
            if path.suffix.lower() in IMAGE_SUFFIXES:
                found.append(path)
            elif not name.startswith("."):  # .DS_Store and the like
                passed_over[path.suffix.lower() or "no suffix"] += 1
    if passed_over:
        kinds = ", ".join(f"{count} {suffix}" for suffix, count in passed_over.most_common())
        count = passed_over.total()
        log.warning(
            "%s: passed over %d %s that tsr does not read as images (%s); convert them to "
            "JPEG or PNG to classify them",
            display_name(folder),
            count,
            "file" if count == 1 else "files",
            kinds,
        )
    return sorted(found)


def collect_inputs(inputs: str | Iterable[str] | None) -> list[InputEntry]:
    """Every image file named by `inputs`, in order, each once; plus one error entry per
    argument that names nothing usable."""
    if inputs is None or inputs == "":
        return []
    items = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    entries: list[InputEntry] = []
    seen: set[Path] = set()

    def add(path: Path, source: str) -> None:
        try:
            key = path.resolve()
        except (RuntimeError, OSError) as exc:  # a symbolic link loop, a vanished folder
            name = display_name(path)
            entries.append(
                InputEntry(display_name(source), error=f"{name}: cannot follow it ({exc})")
            )
            return
        if key not in seen:
            seen.add(key)
            entries.append(InputEntry(display_name(source), path))

    for item in items:
        text = str(item)
        path = Path(text).expanduser()
        if path.is_dir():
            found = _folder_images(path)
            if not found:
                suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
                entries.append(
                    InputEntry(text, error=f"{text}: folder holds no images ({suffixes})")
                )
            for image in found:
                add(image, text)
        elif path.exists() or path.is_symlink():
            add(path, text)
        elif glob.has_magic(text):
            matches = sorted(glob.glob(str(path), recursive=True))
            if not matches:
                entries.append(InputEntry(text, error=f"{text}: pattern matches no file"))
            for match in map(Path, matches):
                for image in _folder_images(match) if match.is_dir() else [match]:
                    add(image, text)
        else:
            entries.append(InputEntry(text, path))  # the reader reports "no such file"
    return entries
