"""Decode the GTSRB archives once into a compact cache, and load it back.

Every image is decoded exactly once, straight out of the zip archives (no
50,000 small files on disk), resized to `image_size` if needed (the official
archives hold 15x15 to 250x250 images; the local mirror is already 32x32), and
stored with its label, track id and region of interest.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tsr.data.archives import (
    TEST_ARCHIVE,
    TEST_LABELS_ARCHIVE,
    TRAIN_ARCHIVE,
    archive_digest,
    open_archive,
    read_member,
)
from tsr.data.cache import CORRUPT_CACHE_ERRORS, load_npz, save_npz_atomic
from tsr.data.classes import NUM_CLASSES
from tsr.data.opencv import cv2
from tsr.data.preprocessing import check_data_type, fingerprint, preprocess
from tsr.data.roi import crop_to_rois
from tsr.errors import DataError
from tsr.io.atomic import remove_stale_temps
from tsr.io.progress import progress_bar

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: the cache records the archives it was decoded from
TRAIN_DIR = "GTSRB/Final_Training/Images"
TEST_DIR = "GTSRB/Final_Test/Images"
TEST_LABELS_CSV = "GT-final_test.csv"
FIELDS = ("images", "labels", "tracks", "rois", "sizes")
# a cache temp file older than this was left by a killed writer (a write takes seconds)
STALE_TEMP_S = 15 * 60
_TRACK_RE = re.compile(r"^(\d+)_\d+\.\w+$")


@dataclass(frozen=True)
class Split:
    """One decoded split. Track ids are global (class * 100000 + track); -1 on the test set."""

    images: np.ndarray  # (N, H, W, 3) uint8, RGB
    labels: np.ndarray  # (N,) int64 class ids
    tracks: np.ndarray  # (N,) int64 global track ids
    rois: np.ndarray  # (N, 4) int16 x1, y1, x2, y2 in the original image's pixels
    sizes: np.ndarray  # (N, 2) int16 original width, height

    def __len__(self) -> int:
        return len(self.labels)

    def rois_scaled(self) -> np.ndarray:
        """ROIs in the stored image's pixels (scaled by image_size / original size)."""
        size = self.images.shape[1]
        scale = size / np.tile(self.sizes.astype(np.float32), 2)  # w, h, w, h
        return self.rois.astype(np.float32) * scale

    def cropped(self, margin: float) -> Split:
        """The split with every image cropped to its ROI grown by `margin` x its size on each
        side (tsr.data.roi); its ROIs and sizes then describe the cropped images."""
        images = crop_to_rois(self.images, self.rois_scaled(), margin)
        side = images.shape[1]
        sizes = np.full_like(self.sizes, side)
        rois = np.zeros_like(self.rois)
        rois[:, 2:] = side
        return replace(self, images=images, rois=rois, sizes=sizes)

    def subset(self, index: np.ndarray) -> Split:
        """The images at `index` (e.g. one side of a track-wise split)."""
        return Split(
            self.images[index],
            self.labels[index],
            self.tracks[index],
            self.rois[index],
            self.sizes[index],
        )


@dataclass(frozen=True)
class Gtsrb:
    train: Split
    test: Split


COLUMNS = ("Filename", "Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId")
# the largest official image is 250 x 266 pixels; the CSVs store sizes as int16
MAX_SIDE = 4096


def _read_csv(archive: zipfile.ZipFile, member: str, archive_path: Path) -> list[dict[str, str]]:
    """The rows of an annotation CSV, each checked (columns, numbers, ranges, duplicates):
    a malformed file is one DataError naming the file, the line and the fix."""
    raw = read_member(archive, member, archive_path, "")
    where = f"{archive_path}: {member}"
    fix = "Replace the archive with the official one."
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where} is not UTF-8 text ({exc.reason}). {fix}") from None
    lines = text.splitlines()
    header = lines[0].split(";") if lines else []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"{where}: the header {lines[0][:80] if lines else '(empty file)'!r} lacks the "
            f"column(s) {', '.join(missing)} (official GTSRB CSVs are ';'-separated with "
            f"{';'.join(COLUMNS)}). {fix}"
        )
    rows, seen = [], set()
    for number, row in enumerate(csv.DictReader(io.StringIO(text), delimiter=";"), start=2):
        values = {}
        for column in COLUMNS[1:]:
            value = (row.get(column) or "").strip()
            if not value.lstrip("-").isdigit():
                raise DataError(f"{where} line {number}: {column}={value!r} is not a number. {fix}")
            values[column] = int(value)
        width, height = values["Width"], values["Height"]
        x1, y1, x2, y2 = (values[k] for k in ("Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2"))
        if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
            raise DataError(
                f"{where} line {number}: image size {width}x{height} outside 1..{MAX_SIDE}. {fix}"
            )
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            raise DataError(
                f"{where} line {number}: ROI ({x1}, {y1}, {x2}, {y2}) is not a box inside the "
                f"{width}x{height} image. {fix}"
            )
        if not 0 <= values["ClassId"] < NUM_CLASSES:
            raise DataError(
                f"{where} line {number}: ClassId {values['ClassId']} outside 0..{NUM_CLASSES - 1}."
                f" {fix}"
            )
        name = row["Filename"]
        if name in seen:
            raise DataError(f"{where} line {number}: {name} is listed twice. {fix}")
        seen.add(name)
        rows.append({**row, **{k: str(v) for k, v in values.items()}})
    if not rows:
        raise DataError(f"{where} lists no images (only its header). {fix}")
    return rows


def _decode(archive: zipfile.ZipFile, member: str, archive_path: Path, size: int) -> np.ndarray:
    raw = read_member(archive, member, archive_path, ", listed in its annotations")
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(
            f"{archive_path}: {member} is not a readable image. "
            "Delete the archive and fetch it again."
        )
    return resize_image(image, size)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """The whole image to size x size (INTER_AREA), as every training image was resized;
    `tsr.predict` resizes new images with this too."""
    if image.shape[:2] != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return image


def _rows_to_split(
    rows: list[tuple[zipfile.ZipFile, Path, str, dict[str, str], int]],
    size: int,
    advance: Callable[[int], None],
) -> Split:
    n = len(rows)
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.empty(n, np.int64)
    tracks = np.empty(n, np.int64)
    rois = np.empty((n, 4), np.int16)
    sizes = np.empty((n, 2), np.int16)
    for i, (archive, archive_path, member, row, track) in enumerate(rows):
        images[i] = _decode(archive, member, archive_path, size)
        labels[i] = int(row["ClassId"])
        tracks[i] = track
        rois[i] = [int(row[k]) for k in ("Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2")]
        sizes[i] = [int(row["Width"]), int(row["Height"])]
        advance(1)
    images = np.ascontiguousarray(images[..., ::-1])  # OpenCV decodes BGR
    return Split(images, labels, tracks, rois, sizes)


def decode_archives(paths: dict[str, Path], image_size: int = 32) -> Gtsrb:
    """Decode both splits from the three archives (see `tsr.data.archives`)."""
    train_path, test_path = paths[TRAIN_ARCHIVE], paths[TEST_ARCHIVE]
    labels_path = paths[TEST_LABELS_ARCHIVE]
    with (
        open_archive(train_path) as train_zip,
        open_archive(test_path) as test_zip,
        open_archive(labels_path) as labels_zip,
    ):
        train_rows = []
        for class_id in range(NUM_CLASSES):
            folder = f"{TRAIN_DIR}/{class_id:05d}"
            for row in _read_csv(train_zip, f"{folder}/GT-{class_id:05d}.csv", train_path):
                match = _TRACK_RE.match(row["Filename"])
                if match is None or int(row["ClassId"]) != class_id:
                    raise DataError(
                        f"{train_path}: unexpected annotation {row} in class folder {class_id:05d}."
                        " Replace the archive with the official one."
                    )
                track = class_id * 100000 + int(match.group(1))
                train_rows.append(
                    (train_zip, train_path, f"{folder}/{row['Filename']}", row, track)
                )
        test_rows = [
            (test_zip, test_path, f"{TEST_DIR}/{row['Filename']}", row, -1)
            for row in _read_csv(labels_zip, TEST_LABELS_CSV, labels_path)
        ]
        total = len(train_rows) + len(test_rows)
        with progress_bar("decode GTSRB images", total=total) as advance:
            train = _rows_to_split(train_rows, image_size, advance)
            test = _rows_to_split(test_rows, image_size, advance)
    if not len(test) or set(np.unique(test.labels)) - set(range(NUM_CLASSES)):
        raise DataError(f"{labels_path}: test labels outside 0..{NUM_CLASSES - 1} or none at all.")
    return Gtsrb(train, test)


def cache_path(cache_dir: Path, image_size: int, data_type: str = "rgb") -> Path:
    """The decoded RGB cache, or the images of another data type beside it."""
    suffix = "" if data_type == "rgb" else f"-{data_type}-{fingerprint()}"
    return Path(cache_dir) / f"gtsrb-{image_size}px-v{CACHE_VERSION}{suffix}.npz"


def save_cache(data: Gtsrb, path: Path, source: str) -> None:
    arrays = {"source": np.array(source)}
    for split_name in ("train", "test"):
        split = getattr(data, split_name)
        arrays.update({f"{split_name}_{field}": getattr(split, field) for field in FIELDS})
    save_npz_atomic(path, **arrays)


def load_cache(path: Path, images_path: Path | None = None) -> tuple[Gtsrb, str]:
    """Load a cache and the source it records; `images_path` takes the images from a
    preprocessed data type's cache (which must record the same source)."""
    keys = (*(f"{s}_{f}" for s in ("train", "test") for f in FIELDS), "source")
    if images_path is None:
        arrays = load_npz(path, keys)
    else:
        arrays = load_npz(path, tuple(k for k in keys if not k.endswith("_images")))
        prepared = load_npz(images_path, ("train_images", "test_images", "source"))
        if str(prepared.pop("source")) != str(arrays["source"]):
            raise ValueError(f"{images_path.name} was made from another decoded cache")
        arrays.update(prepared)
    data = Gtsrb(*(Split(*(arrays[f"{s}_{f}"] for f in FIELDS)) for s in ("train", "test")))
    return data, str(arrays["source"])


def _try_load(path: Path, source: str, images_path: Path | None = None) -> Gtsrb | None:
    """The cache if it is intact and was made from exactly these archives, else None."""
    if not path.is_file() or (images_path is not None and not images_path.is_file()):
        return None
    start = time.perf_counter()
    try:
        data, recorded = load_cache(path, images_path)
    except CORRUPT_CACHE_ERRORS as exc:
        log.warning("cache %s is damaged (%s): rebuilding it", images_path or path, exc)
        return None
    if recorded != source:
        log.warning(
            "cache %s was decoded from other archives than %s (checksums differ): rebuilding it",
            path.name,
            ", ".join(json.loads(source)),
        )
        return None
    log.info("loaded %s in %.2f s", (images_path or path).name, time.perf_counter() - start)
    return data


def source_of(paths: dict[str, Path]) -> str:
    """What a cache is decoded from: each archive's name and SHA-256."""
    return json.dumps({name: archive_digest(paths[name]) for name in sorted(paths)})


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK | os.X_OK)
    except OSError as exc:
        writable, reason = False, exc.strerror
    else:
        reason = "permission denied"
    if not writable:
        raise DataError(
            f"the cache folder data.data_dir={folder} is not writable ({reason}); point "
            "data.data_dir (or TSR_DATA_DIR) at a folder you can write to"
        )


def load_gtsrb(
    cache_dir: Path,
    fetch: Callable[[], dict[str, Path]],
    data_type: str = "rgb",
    image_size: int = 32,
) -> Gtsrb:
    """Load GTSRB preprocessed as `data_type`, from caches built on first use.

    `fetch` returns the archive paths (checking them; it downloads only what is missing).
    The RGB images are decoded once; each other data type is preprocessed once and cached
    beside them, so a warm load hashes the archives (~0.2 s for the 136 MB here, once per
    process) and reads one small file. Every cache records the SHA-256 of the archives it
    came from: pointed at other archives (another mirror, a fixed or a tampered one), tsr
    rebuilds it instead of reusing images of another source. A damaged cache is detected
    (zip CRCs) and rebuilt, never silently used.
    """
    check_data_type(data_type)
    cache_dir = Path(cache_dir)
    if cache_dir.is_dir():  # what a killed cache writer left (not another run's file in progress)
        remove_stale_temps(cache_dir, older_than_s=STALE_TEMP_S)
    base = cache_path(cache_dir, image_size)
    prepared = cache_path(cache_dir, image_size, data_type)
    if not base.is_file() or (data_type != "rgb" and not prepared.is_file()):
        _check_writable(cache_dir)  # before minutes of decoding, not after
    paths = fetch()
    source = source_of(paths)
    if data_type != "rgb" and (data := _try_load(base, source, prepared)) is not None:
        return data
    rgb = _try_load(base, source)
    if rgb is None:
        start = time.perf_counter()
        rgb = decode_archives(paths, image_size)
        save_cache(rgb, base, source)
        n = len(rgb.train) + len(rgb.test)
        log.info("decoded %d images into %s in %.1f s", n, base, time.perf_counter() - start)
    if data_type == "rgb":
        return rgb
    start = time.perf_counter()
    train_images = preprocess(rgb.train.images, data_type)
    test_images = preprocess(rgb.test.images, data_type)
    save_npz_atomic(
        prepared, train_images=train_images, test_images=test_images, source=np.array(source)
    )
    log.info(
        "preprocessed %s images into %s in %.1f s",
        data_type,
        prepared.name,
        time.perf_counter() - start,
    )
    return Gtsrb(replace(rgb.train, images=train_images), replace(rgb.test, images=test_images))
