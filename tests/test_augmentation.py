"""Jitter: what each setting does to real images, and invalid settings."""

from __future__ import annotations

import numpy as np
import pytest

from tsr.config.schema import validate
from tsr.data.augmentation import build_jitter
from tsr.data.gtsrb import Gtsrb
from tsr.data.settings import JitterSettings
from tsr.errors import ConfigError


def _dot_image() -> np.ndarray:
    image = np.zeros((32, 32, 1), np.uint8)
    image[16, 16] = 255
    return image


def test_shift_only_moves_by_at_most_shift_px() -> None:
    pipeline = build_jitter(JitterSettings(shift_px=2, rotate_deg=0, border="constant"))
    pipeline.set_random_seed(0)
    offsets = set()
    for _ in range(200):
        out = pipeline(image=_dot_image())["image"][..., 0]
        y, x = np.unravel_index(out.argmax(), out.shape)
        offsets.add((int(y) - 16, int(x) - 16))
    assert all(abs(dy) <= 2 and abs(dx) <= 2 for dy, dx in offsets)
    assert len(offsets) > 9  # it does move, in both directions


@pytest.mark.parametrize("affine", [0.0, 0.5, 1.0])
def test_affine_probability_is_the_share_of_jittered_images(gtsrb: Gtsrb, affine: float) -> None:
    images = gtsrb.train.images[:400]
    pipeline = build_jitter(JitterSettings(affine=affine))
    pipeline.set_random_seed(0)
    changed = np.mean([not np.array_equal(pipeline(image=img)["image"], img) for img in images])
    assert abs(changed - affine) < 0.08


def test_full_jitter_keeps_shape_and_changes_real_images(gtsrb: Gtsrb) -> None:
    pipeline = build_jitter(JitterSettings(affine=1.0))
    pipeline.set_random_seed(0)
    for image in gtsrb.train.images[:20]:
        out = pipeline(image=image)["image"]
        assert out.shape == image.shape and out.dtype == np.uint8
    changed = [
        not np.array_equal(pipeline(image=im)["image"], im) for im in gtsrb.train.images[:20]
    ]
    assert sum(changed) >= 18


def test_optional_transforms_apply(gtsrb: Gtsrb) -> None:
    config = JitterSettings(
        shift_px=0, rotate_deg=0, scale=(0.9, 1.1), brightness_contrast=1.0, blur=1.0, occlusion=1.0
    )
    pipeline = build_jitter(config)
    names = [type(t).__name__ for t in pipeline.transforms]
    assert names == ["Affine", "RandomBrightnessContrast", "GaussianBlur", "CoarseDropout"]
    image = gtsrb.train.images[0]
    assert not np.array_equal(pipeline(image=image)["image"], image)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"border": "wrap"}, "replicate, reflect, constant"),
        ({"blur": 1.5}, "data.jitter.blur=1.5 must be a number >= 0 and <= 1"),
        ({"affine": -0.1}, "data.jitter.affine=-0.1 must be a number >= 0 and <= 1"),
        ({"scale": (1.1, 0.9)}, "low <= high"),
        ({"shift_px": -1}, ">= 0"),
    ],
)
def test_invalid_settings(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        validate(JitterSettings, kwargs, "data.jitter")
