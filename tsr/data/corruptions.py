"""A corrupted copy of the official test set, in the spirit of ImageNet-C (Hendrycks &
Dietterich 2019): 16 corruptions in four groups (noise, blur, weather, digital), each at 5
severities, built with albumentations transforms at fixed parameters.

The corruptions act on the RGB test images (what the camera delivers), before the data
type's preprocessing, as a dirty lens, fog or a JPEG encoder would. The parameters are
ImageNet-C's where they carry over (noise levels, JPEG qualities) and scaled to 32 x 32
images where they are in pixels (blur radii, rain drops). Every (corruption, severity)
draws its random numbers from its own seed, so the set is identical when rebuilt
(tested); it is cached beside the decoded data set, keyed by the parameters, the
albumentations version, the images chosen and the archives they came from.

By default a class-stratified, seeded sample of 2,000 test images is corrupted (16 x 5 x
2,000 = 160,000 images, ~0.6 points of standard error per cell at 90 % accuracy); `images=None`
takes all 12,630.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import albumentations as A
import cv2
import numpy as np

from tsr.data.cache import CORRUPT_CACHE_ERRORS, load_npz, save_npz_atomic
from tsr.io.progress import progress_bar

log = logging.getLogger(__name__)

SEVERITIES = (1, 2, 3, 4, 5)


def _fixed(value):
    return (value, value)


# corruption -> (group, severity -> transform); p=1: every image is corrupted
CORRUPTIONS: dict[str, tuple[str, Callable[[int], A.BasicTransform]]] = {
    "gaussian_noise": ("noise", lambda s: A.GaussNoise(
        std_range=_fixed([0.08, 0.12, 0.18, 0.26, 0.38][s - 1]), p=1)),
    "shot_noise": ("noise", lambda s: A.ShotNoise(
        scale_range=_fixed([1 / 60, 1 / 25, 1 / 12, 1 / 5, 1 / 3][s - 1]), p=1)),
    "impulse_noise": ("noise", lambda s: A.SaltAndPepper(
        amount=_fixed([0.03, 0.06, 0.09, 0.17, 0.27][s - 1]), p=1)),
    "defocus_blur": ("blur", lambda s: A.Defocus(
        radius=_fixed([1, 1, 2, 2, 3][s - 1]),
        alias_blur=_fixed([0.1, 0.5, 0.1, 0.5, 0.5][s - 1]), p=1)),
    "motion_blur": ("blur", lambda s: A.MotionBlur(
        blur_limit=_fixed([3, 5, 5, 7, 9][s - 1]), allow_shifted=False, p=1)),
    "zoom_blur": ("blur", lambda s: A.ZoomBlur(
        max_factor=_fixed([1.1, 1.2, 1.3, 1.45, 1.6][s - 1]), step_factor=_fixed(0.03), p=1)),
    "glass_blur": ("blur", lambda s: A.GlassBlur(
        sigma=[0.5, 0.6, 0.7, 0.8, 1.0][s - 1], max_delta=[1, 1, 1, 2, 2][s - 1],
        iterations=[1, 2, 2, 2, 3][s - 1], p=1)),
    "snow": ("weather", lambda s: A.RandomSnow(
        snow_point_range=_fixed([0.1, 0.2, 0.3, 0.4, 0.5][s - 1]),
        brightness_coeff=[1.5, 2.0, 2.5, 3.0, 3.5][s - 1], p=1)),
    "fog": ("weather", lambda s: A.RandomFog(
        fog_coef_range=_fixed([0.3, 0.45, 0.6, 0.75, 0.9][s - 1]),
        alpha_coef=[0.05, 0.08, 0.11, 0.14, 0.17][s - 1], p=1)),
    "rain": ("weather", lambda s: A.RandomRain(
        drop_length=[2, 3, 4, 5, 6][s - 1], drop_width=1, blur_value=1,
        brightness_coefficient=[0.9, 0.85, 0.8, 0.75, 0.7][s - 1], p=1)),
    "spatter": ("weather", lambda s: A.Spatter(
        intensity=_fixed([0.2, 0.35, 0.5, 0.65, 0.8][s - 1]), mode="mud", p=1)),
    "brightness": ("digital", lambda s: A.RandomBrightnessContrast(
        brightness_limit=_fixed([0.1, 0.2, 0.3, 0.4, 0.5][s - 1]), contrast_limit=_fixed(0.0),
        p=1)),
    "contrast": ("digital", lambda s: A.RandomBrightnessContrast(
        brightness_limit=_fixed(0.0), contrast_limit=_fixed([-0.4, -0.55, -0.7, -0.8, -0.9][s - 1]),
        p=1)),
    "elastic": ("digital", lambda s: A.ElasticTransform(
        alpha=[5, 10, 15, 20, 30][s - 1], sigma=3, p=1)),
    "pixelate": ("digital", lambda s: A.Downscale(
        scale_range=_fixed([0.5, 0.4, 0.33, 0.28, 0.25][s - 1]),
        interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_NEAREST}, p=1)),
    "jpeg": ("digital", lambda s: A.ImageCompression(
        quality_range=_fixed([25, 18, 15, 10, 7][s - 1]), p=1)),
}  # fmt: skip


def _seed(kind: str, severity: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{kind}/{severity}".encode()).digest()[:4], "little")


def corrupt(images: np.ndarray, kind: str, severity: int) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> the same images with `kind` at `severity`, deterministic."""
    pipeline = A.Compose([CORRUPTIONS[kind][1](severity)], strict=True, seed=_seed(kind, severity))
    return np.stack([pipeline(image=image)["image"] for image in images])


def fingerprint(clean: np.ndarray) -> str:
    """Digest of what the corrupted set depends on: the parameters, the libraries and the
    clean images themselves (so other archives or another sample never reuse it)."""
    params = {kind: [repr(make(s)) for s in SEVERITIES] for kind, (_, make) in CORRUPTIONS.items()}
    digest = hashlib.sha1(repr((params, A.__version__, cv2.__version__)).encode())
    digest.update(np.ascontiguousarray(clean).tobytes())
    return digest.hexdigest()[:12]


def corrupted_test_set(cache_dir: Path, clean: np.ndarray) -> dict[tuple[str, int], np.ndarray]:
    """Every (corruption, severity) of the RGB images `clean`, built once and cached."""
    path = Path(cache_dir) / f"gtsrb-test-corrupted-{len(clean)}-{fingerprint(clean)}.npz"
    keys = [(kind, s) for kind in CORRUPTIONS for s in SEVERITIES]
    names = [f"{kind}_s{s}" for kind, s in keys]
    if path.is_file():
        try:
            arrays = load_npz(path, tuple(names))
            log.info("loaded the corrupted test set %s", path.name)
            return {key: arrays[name] for key, name in zip(keys, names, strict=True)}
        except CORRUPT_CACHE_ERRORS as exc:
            log.warning("corrupted-test-set cache %s is damaged (%s): rebuilding it", path, exc)
    start = time.perf_counter()
    out: dict[tuple[str, int], np.ndarray] = {}
    with progress_bar("corrupt the test set", total=len(keys)) as advance:
        for key in keys:
            out[key] = corrupt(clean, *key)
            advance(1)
    save_npz_atomic(path, **{name: out[key] for key, name in zip(keys, names, strict=True)})
    log.info(
        "built %d corrupted copies of %d test images into %s in %.0f s",
        len(keys),
        len(clean),
        path.name,
        time.perf_counter() - start,
    )
    return out
