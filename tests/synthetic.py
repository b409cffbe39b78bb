"""A small synthetic GTSRB in the official archives' layout, for the fast test tier.

The same three archives, names, folders, CSV columns (`;`-separated, Width/Height/ROI of
the "original" image) and PPM images as the official release (tsr.data.archives,
tsr.data.gtsrb read them unchanged), and a SHA256SUMS. Each of the 43 classes is a
drawable sign: a shape (disc, triangle, square, diamond) in one of 11 colours with a
class-specific pattern of bars, on a noisy background; frames of a track are the same
sign shifted, scaled and lit a little differently, so tracks matter as in GTSRB and a
small network learns the classes within a few epochs. Deterministic from a seed.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from tsr.data.archives import TEST_ARCHIVE, TEST_LABELS_ARCHIVE, TRAIN_ARCHIVE
from tsr.data.gtsrb import TEST_DIR, TEST_LABELS_CSV, TRAIN_DIR

HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"
SIZE = 32
COLOURS = np.array(
    [
        (200, 30, 30),
        (30, 60, 200),
        (230, 200, 30),
        (240, 240, 240),
        (30, 150, 60),
        (120, 40, 160),
        (240, 120, 20),
        (20, 180, 190),
        (110, 70, 40),
        (230, 90, 170),
        (60, 60, 60),
    ],
    dtype=np.float32,
)


def _shape_mask(kind: int, cx: float, cy: float, radius: float) -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    dx, dy = x - cx, y - cy
    if kind == 0:  # disc
        return dx**2 + dy**2 <= radius**2
    if kind == 1:  # triangle, point up
        return (dy <= radius * 0.8) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) * 0.6)
    if kind == 2:  # square
        return (np.abs(dx) <= radius * 0.85) & (np.abs(dy) <= radius * 0.85)
    return np.abs(dx) + np.abs(dy) <= radius  # diamond


def sign_image(class_id: int, rng: np.random.Generator, jitter: float = 1.0) -> np.ndarray:
    """One 32x32 RGB uint8 frame of `class_id`'s sign."""
    background = rng.uniform(40, 200, size=3).astype(np.float32)
    image = np.broadcast_to(background, (SIZE, SIZE, 3)).copy()
    image += rng.normal(0, 12, size=image.shape).astype(np.float32)
    cx = SIZE / 2 + rng.uniform(-2, 2) * jitter
    cy = SIZE / 2 + rng.uniform(-2, 2) * jitter
    radius = 11 * rng.uniform(0.9, 1.1) ** jitter
    mask = _shape_mask(class_id % 4, cx, cy, radius)
    image[mask] = COLOURS[class_id % len(COLOURS)]
    # a class-specific pattern of dark bars inside the sign (the "pictogram")
    bars = [(class_id >> bit) & 1 for bit in range(4)]
    for i, on in enumerate(bars):
        if on:
            x0 = int(np.rint(cx - 6 + 3 * i))
            y0, y1 = int(np.rint(cy - 4)), int(np.rint(cy + 4))
            image[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x0 + 2, 0)] = 20
    image *= rng.uniform(0.7, 1.2)  # lighting
    return np.clip(image, 0, 255).astype(np.uint8)


def ppm_bytes(image: np.ndarray) -> bytes:
    height, width = image.shape[:2]
    return f"P6\n{width} {height}\n255\n".encode() + np.ascontiguousarray(image).tobytes()


def _row(name: str, class_id: int) -> str:
    return f"{name};{SIZE};{SIZE};4;4;{SIZE - 5};{SIZE - 5};{class_id}"


def write_synthetic_gtsrb(
    dest: Path,
    tracks_per_class: int = 3,
    frames_per_track: int = 6,
    test_per_class: int = 4,
    seed: int = 0,
) -> Path:
    """The three archives and SHA256SUMS in `dest` (created); returns `dest`."""
    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest / TRAIN_ARCHIVE, "w") as train:
        for class_id in range(43):
            folder = f"{TRAIN_DIR}/{class_id:05d}"
            rows = [HEADER]
            for track in range(tracks_per_class):
                track_rng = np.random.default_rng(rng.integers(2**32))
                for frame in range(frames_per_track):
                    name = f"{track:05d}_{frame:05d}.ppm"
                    image = sign_image(class_id, track_rng, jitter=0.5)
                    train.writestr(f"{folder}/{name}", ppm_bytes(image))
                    rows.append(_row(name, class_id))
            train.writestr(f"{folder}/GT-{class_id:05d}.csv", "\n".join(rows) + "\n")
    labels = [class_id for class_id in range(43) for _ in range(test_per_class)]
    rng.shuffle(labels)
    rows = [HEADER]
    with zipfile.ZipFile(dest / TEST_ARCHIVE, "w") as test:
        for index, class_id in enumerate(labels):
            name = f"{index:05d}.ppm"
            test.writestr(f"{TEST_DIR}/{name}", ppm_bytes(sign_image(int(class_id), rng)))
            rows.append(_row(name, int(class_id)))
        unlabelled = [row.rsplit(";", 1)[0] for row in rows]
        test.writestr(f"{TEST_DIR}/GT-final_test.test.csv", "\n".join(unlabelled) + "\n")
    with zipfile.ZipFile(dest / TEST_LABELS_ARCHIVE, "w") as test_labels:
        test_labels.writestr(TEST_LABELS_CSV, "\n".join(rows) + "\n")
    sums = "".join(
        f"{hashlib.sha256((dest / name).read_bytes()).hexdigest()}  {name}\n"
        for name in (TRAIN_ARCHIVE, TEST_ARCHIVE, TEST_LABELS_ARCHIVE)
    )
    (dest / "SHA256SUMS").write_text(sums)
    return dest
