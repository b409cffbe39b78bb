"""The seed writeup's preprocessing chain ("data types"), applied once per data set.

    rgb -> gray -> sharpen -> hist -> clahe

Each data type is the output of one step of the chain: `hist` is the
histogram-equalised sharpened gray image, `clahe` is CLAHE applied to that.
The result stays uint8 (H, W, C) so it can be cached and jittered; centring
and normalisation with training-split statistics happen on the model's device
(`tsr.models.module`), where they cost nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from tsr.data.opencv import cv2
from tsr.errors import ConfigError

# The classic 3x3 sharpening kernel: identity plus the 4-neighbour Laplacian (sums to 1,
# keeps the mean). The 8-neighbour one ([-1]*8, 9) amplifies noise on 32x32 crops and
# cost LeNet ~1 point of test accuracy at the end of the chain (measured here).
SHARPEN_KERNEL = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)
CLAHE_CLIP_LIMIT = 2.0
CLAHE_TILES = (4, 4)  # 8x8-pixel tiles on a 32x32 image


def _gray(images: np.ndarray) -> np.ndarray:
    """ITU-R 601 luminance, converted as one tall image (one OpenCV call for the set)."""
    n, h, w, _ = images.shape
    return cv2.cvtColor(images.reshape(n * h, w, 3), cv2.COLOR_RGB2GRAY).reshape(n, h, w)


def _per_image(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    def apply(images: np.ndarray) -> np.ndarray:
        out = np.empty_like(images)
        for i, image in enumerate(images):
            out[i] = fn(image)
        return out

    return apply


def _clahe(images: np.ndarray) -> np.ndarray:
    clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP_LIMIT, tileGridSize=CLAHE_TILES)
    return _per_image(clahe.apply)(images)


# Each step maps the previous step's output to this data type's images.
CHAIN: dict[str, tuple[str | None, Callable[[np.ndarray], np.ndarray]]] = {
    "rgb": (None, lambda images: images),
    "gray": ("rgb", _gray),
    "sharpen": ("gray", _per_image(lambda image: cv2.filter2D(image, -1, SHARPEN_KERNEL))),
    "hist": ("sharpen", _per_image(cv2.equalizeHist)),
    "clahe": ("hist", _clahe),
}
DATA_TYPES = tuple(CHAIN)

# The same chain as OpenCV calls with their parameters, for programs without tsr (the ONNX
# export's sidecar and its reference client, tsr/inference/reference_client.py)
STEP_SPECS: dict[str, dict] = {
    "gray": {"op": "cvtColor", "code": "COLOR_RGB2GRAY"},
    "sharpen": {"op": "filter2D", "kernel": SHARPEN_KERNEL.tolist()},
    "hist": {"op": "equalizeHist"},
    "clahe": {"op": "CLAHE", "clipLimit": CLAHE_CLIP_LIMIT, "tileGridSize": list(CLAHE_TILES)},
}


def step_specs(data_type: str) -> list[dict]:
    """The OpenCV calls that turn an RGB image into `data_type`, in order."""
    steps = []
    step: str | None = check_data_type(data_type)
    while step is not None and step != "rgb":
        steps.append(STEP_SPECS[step])
        step = CHAIN[step][0]
    return steps[::-1]


def fingerprint() -> str:
    """A short digest of the chain's parameters: caches of data types are keyed by it,
    so changing a kernel or a CLAHE setting never reuses stale images."""
    params = (SHARPEN_KERNEL.tolist(), CLAHE_CLIP_LIMIT, CLAHE_TILES, cv2.__version__)
    return hashlib.sha1(repr(params).encode()).hexdigest()[:8]


def check_data_type(name: str) -> str:
    if name not in CHAIN:
        raise ConfigError(
            f"unknown data.preprocessing={name!r}; valid choices: {', '.join(DATA_TYPES)}"
        )
    return name


def num_channels(data_type: str) -> int:
    return 3 if check_data_type(data_type) == "rgb" else 1


def preprocess(rgb_images: np.ndarray, data_type: str) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, H, W, C) uint8 of `data_type`; deterministic."""
    steps = []
    step: str | None = check_data_type(data_type)
    while step is not None:
        steps.append(step)
        step = CHAIN[step][0]
    images = rgb_images
    for step in reversed(steps):
        images = CHAIN[step][1](images)
    if images.ndim == 3:
        images = images[..., None]
    return np.ascontiguousarray(images)


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 (N, H, W, C) images, in [0, 1] units."""
    flat = images.reshape(-1, images.shape[-1])
    mean = np.zeros(flat.shape[1])
    sq = np.zeros(flat.shape[1])
    for start in range(0, len(flat), 1 << 22):  # chunks keep float64 copies small
        block = flat[start : start + (1 << 22)].astype(np.float64) / 255.0
        mean += block.sum(0)
        sq += (block**2).sum(0)
    mean /= len(flat)
    std = np.sqrt(np.maximum(sq / len(flat) - mean**2, 1e-12))
    return mean.tolist(), std.tolist()
