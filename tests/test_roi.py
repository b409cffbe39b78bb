"""Cropping images to their signs' boxes (tsr.data.roi)."""

from __future__ import annotations

import numpy as np
import pytest

from tsr.data.roi import crop_to_rois


def _square(side: int = 32, lo: int = 8, hi: int = 24) -> np.ndarray:
    image = np.zeros((1, side, side, 1), np.uint8)
    image[0, lo:hi, lo:hi] = 255
    return image


def test_the_box_fills_the_image() -> None:
    out = crop_to_rois(_square(), np.array([[8.0, 8.0, 24.0, 24.0]]), 0.0)
    # the interior is the box's; only the outermost ring blends in the pixels beyond it
    assert (out[0, 1:-1, 1:-1] == 255).all()
    assert out.shape == (1, 32, 32, 1)


def test_the_margin_grows_the_box_on_each_side() -> None:
    out = crop_to_rois(_square(), np.array([[8.0, 8.0, 24.0, 24.0]]), 0.5)
    # a 16-pixel box grown by 8 on each side: the square is the middle half of the crop
    inside = out[0, :, :, 0] > 127
    rows = np.flatnonzero(inside.any(axis=1))
    assert (rows.min(), rows.max()) == (8, 23)
    assert inside[8:24, 8:24].all() and inside.sum() == 256


def test_the_whole_frame_is_the_image_itself() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    boxes = np.tile(np.array([0.0, 0.0, 32.0, 32.0]), (3, 1))
    np.testing.assert_array_equal(crop_to_rois(images, boxes, 0.0), images)


def test_boxes_must_match_the_images() -> None:
    with pytest.raises(ValueError, match="need"):
        crop_to_rois(_square(), np.zeros((2, 4)), 0.0)
