"""Read any common image file into the RGB uint8 array the training pipeline starts from.

JPEG, PNG, BMP, PPM/PGM, GIF (first frame), TIFF, WebP; palette, grayscale, RGBA
(composited on white), 16-bit; the EXIF orientation is applied. Each failure is an
`ImageReadError` naming the file and the reason, so one bad file never stops a batch.
The declared size is checked from the header before any pixel is decoded, so a tiny
file that claims 100000 x 100000 pixels (a decompression bomb) is refused cheaply.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tsr.data.gtsrb import resize_image
from tsr.data.opencv import cv2
from tsr.data.preprocessing import preprocess
from tsr.errors import ImageReadError
from tsr.inference.inputs import display_name

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000  # a 100-megapixel photo decodes to 300 MB of RGB
# The formats tsr reads. Others (ICO, ICNS, ...) are refused before decoding: an icon's
# directory can declare 256 x 256 while wrapping a PNG of any size, which only decoding
# would reveal (measured: +244 MB for one such file before this check)
FORMATS = ("JPEG", "PNG", "BMP", "PPM", "GIF", "TIFF", "WEBP")
_WHITE = (255, 255, 255, 255)


@contextmanager
def _pixel_limit_off() -> Iterator[None]:
    """Pillow's own bomb check (a warning, or an error at 2x its limit) runs in `open`;
    tsr checks the declared size itself against `max_pixels`, with its own message."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _to_rgb(image: Image.Image, name: str) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) uint8 RGB. A float image with NaN or infinite pixels
    (a TIFF's "no data" mark) is refused: no grey level stands for them."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image)
        # 16-bit files arrive as I;16 or I (0..65535); float ones as F (0..1 or 0..255)
        peak = float(values.max(initial=0))
        top = 65535.0 if mode.startswith("I;16") or peak > 255 else 255.0
        if mode == "F" and peak <= 1.0:
            top = 1.0
        # scaled in bands of rows: a float copy of the whole image would cost 8 bytes a pixel
        gray = np.empty(values.shape, np.uint8)
        for start in range(0, values.shape[0], 256):
            band = values[start : start + 256].astype(np.float32) * np.float32(255.0 / top)
            if mode == "F" and not np.isfinite(band).all():
                raise ImageReadError(
                    f"{name}: float image with NaN or infinite pixels, which no grey level "
                    "stands for: fill them (or save the image as 8-bit) and try again"
                )
            gray[start : start + 256] = np.clip(np.rint(band), 0, 255)
        del values
        rgb = np.empty((*gray.shape, 3), np.uint8)
        rgb[...] = gray[..., None]
        return rgb
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE)
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _is_tiff(path: Path) -> bool:
    """The file starts with a TIFF signature (little- or big-endian, classic or BigTIFF)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
    except OSError:
        return False


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The file as (H, W, 3) uint8 RGB, upright. Raises ImageReadError with the reason."""
    path = Path(path)
    name = display_name(path)  # printable even when the file name is not UTF-8
    try:
        if path.is_dir():
            raise ImageReadError(f"{name}: is a folder, not an image")
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageReadError(f"{name}: no such file") from None
    except OSError as exc:
        raise ImageReadError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    if size == 0:
        raise ImageReadError(f"{name}: empty file (0 bytes), not an image")
    try:
        with _pixel_limit_off(), Image.open(path, formats=FORMATS) as image:
            width, height = image.size
            if width < 1 or height < 1:
                raise ImageReadError(f"{name}: declares an empty {width}x{height} image")
            if width * height > max_pixels:
                raise ImageReadError(
                    f"{name}: declares {width}x{height} pixels, over the limit of "
                    f"{max_pixels:,} (a decompression bomb, or a huge photo: crop it, or "
                    "raise max_pixels=)"
                )
            image.seek(0)  # the first frame of a GIF or multi-page TIFF
            image.load()
            try:
                image = ImageOps.exif_transpose(image)
            except Exception as exc:  # a damaged EXIF block: keep the pixels as stored
                log.warning("%s: EXIF orientation unreadable (%s); used as stored", path, exc)
            return _to_rgb(image, name)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        if _is_tiff(path):
            raise ImageReadError(
                f"{name}: a TIFF of a kind tsr cannot decode (e.g. 32-bit float colour, or a "
                "compression Pillow lacks): save it as an 8- or 16-bit RGB TIFF, PNG or JPEG"
            ) from None
        raise ImageReadError(
            f"{name}: not an image in a format tsr reads ({', '.join(FORMATS)})"
        ) from None
    except PermissionError as exc:
        raise ImageReadError(f"{name}: cannot read it ({exc.strerror})") from None
    except MemoryError:
        raise ImageReadError(f"{name}: too large to decode in memory") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, zlib.error...
        reason = str(exc).strip() or type(exc).__name__
        raise ImageReadError(f"{name}: damaged or truncated image ({reason})") from None


def model_input(rgb: np.ndarray, image_size: int, data_type: str) -> np.ndarray:
    """RGB (H, W, 3) uint8 -> (S, S, C) uint8 exactly as training images were made: the
    whole image resized to S x S (INTER_AREA), then the data type's preprocessing."""
    return preprocess(resize_image(rgb, image_size)[None], data_type)[0]


def thumbnail(rgb: np.ndarray, max_side: int = 96) -> np.ndarray:
    """A small copy for figures (a 4000 px photo would make a sheet needlessly heavy)."""
    scale = max_side / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
