"""Image files for the predict tests: real GTSRB test images saved in many formats, and
bad inputs (empty, truncated, not an image, a decompression bomb, an empty folder)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A 100-byte PNG that declares width x height RGB pixels (30 GB decoded)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def exif_rotated_jpeg(rgb: np.ndarray) -> bytes:
    """`rgb` stored rotated a quarter turn, with EXIF orientation 6 ("rotate 90° clockwise
    to display"): a reader that honours EXIF gets `rgb` back upright."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(rgb, k=1)))  # counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def good_inputs(folder: Path, images: list[np.ndarray]) -> dict[str, Path]:
    """Each of `images` (32x32 RGB uint8) in another format; name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    a, b, c, d, e, f = images[:6]
    files = {}

    def put(name: str, data: bytes) -> None:
        files[name] = folder / name
        files[name].write_bytes(data)

    alpha = np.full((*a.shape[:2], 1), 255, np.uint8)
    put("rgba.png", encode(Image.fromarray(np.concatenate([a, alpha], axis=2), "RGBA"), "PNG"))
    put("palette.gif", encode(Image.fromarray(b).quantize(256), "GIF"))
    gray16 = (np.asarray(Image.fromarray(c).convert("L"), np.uint16) * 257).astype(np.uint16)
    put("gray16.png", encode(Image.fromarray(gray16), "PNG"))
    put("gray.jpg", encode(Image.fromarray(d).convert("L"), "JPEG", quality=95))
    put("image.bmp", encode(Image.fromarray(e), "BMP"))
    put("rotated.jpg", exif_rotated_jpeg(f))
    big = np.asarray(Image.fromarray(a).resize((180, 150), Image.Resampling.BICUBIC))
    put("large.jpeg", encode(Image.fromarray(big), "JPEG", quality=92))
    return files


def bad_inputs(folder: Path, good_png: bytes, good_jpeg: bytes) -> dict[str, Path]:
    """Name -> path of each kind of bad input (the nonexistent one is not created)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "empty.png": b"",
        "truncated.jpg": good_jpeg[: len(good_jpeg) // 2],
        "truncated.png": good_png[: len(good_png) // 2],
        "text.png": b"this is a text file, not a picture\n" * 4,
        "bomb.png": bomb_png(),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    paths["no_images_dir"] = folder / "no_images_dir"
    paths["no_images_dir"].mkdir(exist_ok=True)
    (paths["no_images_dir"] / "notes.txt").write_text("no pictures here\n")
    paths["missing.jpg"] = folder / "missing.jpg"
    return paths
