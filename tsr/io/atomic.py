"""Write result files atomically: a reader (or a crash) never leaves a half-written file."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from matplotlib.figure import Figure

TEMP_SUFFIX = ".tmp"
CHUNK_BYTES = 1 << 20


TEMP_MARK = ".tsr-"


def temp_prefix(path: Path) -> str:
    """Temporary files of `path` are `.<name>.tsr-<random>.tmp` in the same folder (so the
    final rename never crosses file systems; the mark tells tsr's own apart)."""
    return f".{path.name}{TEMP_MARK}"


def write_chunks(file: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK_BYTES):
        file.write(view[start : start + CHUNK_BYTES])


@contextmanager
def atomic_file(path: Path, durable: bool = False) -> Iterator[BinaryIO]:
    """A binary file whose content replaces `path` when the block ends without an error:
    written to a temporary file beside `path`, then renamed over it, so readers see the old
    file or the new one, never part of one; on an error the temporary file is removed and
    `path` is untouched. `durable` also flushes the data and the rename to the disk
    (checkpoints and caches: they survive a power cut, not only a killed process)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are as readable as any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_folder(path.parent)


def write_bytes_atomic(path: Path, data: bytes, durable: bool = False) -> Path:
    """`data` into `path` atomically (see `atomic_file`)."""
    with atomic_file(path, durable) as f:
        write_chunks(f, data)
    return path


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on this platform / file system
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(folder: Path, older_than_s: float = 0.0) -> list[Path]:
    """Delete temporary files a killed tsr writer left in `folder`: only tsr's own names
    (`.<name>.tsr-<random>.tmp`), and only those older than `older_than_s` seconds (a
    folder other processes write into, such as a shared cache, keeps their files in
    progress). Finished files are untouched; returns what was removed."""
    removed = []
    cutoff = time.time() - older_than_s
    for tmp in folder.glob(f".*{TEMP_MARK}*{TEMP_SUFFIX}"):
        try:
            if older_than_s and tmp.stat().st_mtime > cutoff:
                continue
            tmp.unlink()
        except FileNotFoundError:
            continue
        removed.append(tmp)
    return removed


def write_text_atomic(path: Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode())


def write_json(path: Path, payload: Any) -> Path:
    return write_bytes_atomic(path, (json.dumps(payload, indent=2) + "\n").encode())


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_bytes_atomic(path, buffer.getvalue().encode())


def save_figure(path: Path, figure: Figure, dpi: int = 120) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    return write_bytes_atomic(path, buffer.getvalue())
