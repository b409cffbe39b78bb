"""The batched affine jitter is albumentations' `A.Affine` (tsr's definition of the
jitter): same geometry pixel for pixel, same parameter distributions."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch

from tsr.data.augmentation import BORDER_MODES
from tsr.data.batched_jitter import (
    PADDING,
    BatchedAffineJitter,
    affine_matrices,
    fixed_affine,
    warp,
)
from tsr.data.gtsrb import Gtsrb
from tsr.data.opencv import cv2
from tsr.data.settings import JitterSettings


@pytest.mark.parametrize("border", ["replicate", "constant"])
@pytest.mark.parametrize(
    ("shift", "rotate", "scale"),
    [((2, -1), 15.0, (1.0, 1.0)), ((-2, 2), -12.5, (0.9, 1.1)), ((0, 0), 0.0, (1.1, 0.93))],
)
def test_warp_matches_albumentations(gtsrb: Gtsrb, border, shift, rotate, scale) -> None:
    images = gtsrb.train.images[::997][:40]  # real signs, RGB uint8 (N, 32, 32, 3)
    affine = A.Compose(
        [
            A.Affine(
                translate_px={"x": (shift[0], shift[0]), "y": (shift[1], shift[1])},
                rotate=(rotate, rotate),
                scale={"x": (scale[0], scale[0]), "y": (scale[1], scale[1])},
                border_mode=BORDER_MODES[border],
                fill=0,
                p=1,
            )
        ],
        strict=True,
    )
    expected = np.stack([affine(image=image)["image"] for image in images]).astype(int)
    matrices = affine_matrices(
        np.tile(np.array(shift, float), (len(images), 1)),
        np.full(len(images), rotate),
        np.tile(np.array(scale), (len(images), 1)),
        32,
        32,
    )
    batch = torch.from_numpy(images).permute(0, 3, 1, 2)
    got = warp(batch, matrices, PADDING[border]).permute(0, 2, 3, 1).numpy().astype(int)
    difference = np.abs(got - expected)
    # cv2 interpolates uint8 with 5-bit fixed-point weights; grid_sample in float
    assert difference.mean() < 0.5
    assert np.percentile(difference, 99.9) <= 3


@pytest.mark.parametrize(
    ("angle", "scale", "dx", "dy"), [(-8, 1.0, 0, 0), (0, 0.93, 0, 0), (0, 1.0, 1.5, -1.5)]
)
def test_fixed_views_match_cv2(gtsrb: Gtsrb, angle, scale, dx, dy) -> None:
    """Test-time augmentation's views (tsr.inference.forward) are cv2's rotation matrix
    about the centre, shifted, edges replicated: the same images as cv2.warpAffine."""
    images = gtsrb.train.images[::997][:40]
    matrix = cv2.getRotationMatrix2D((15.5, 15.5), angle, scale)
    matrix[:, 2] += (dx, dy)
    expected = np.stack(
        [cv2.warpAffine(i, matrix, (32, 32), flags=cv2.INTER_LINEAR, borderMode=1) for i in images]
    ).astype(int)
    batch = torch.from_numpy(images).permute(0, 3, 1, 2)
    got = fixed_affine(batch, angle, scale, dx, dy).permute(0, 2, 3, 1).numpy().astype(int)
    difference = np.abs(got - expected)
    assert difference.mean() < 0.5
    assert np.percentile(difference, 99.9) <= 3


def test_parameter_distributions_match_albumentations() -> None:
    config = JitterSettings(scale=[0.9, 1.1])
    jitter = BatchedAffineJitter(config)
    shift, rotate, scale = jitter.parameters(20000)
    affine = A.Affine(
        translate_px=(-2, 2), rotate=(-15, 15), scale=(0.9, 1.1), border_mode=1, fill=0, p=1
    )
    affine.set_random_seed(0)
    drawn = [affine.get_params_dependent_on_data({"shape": (32, 32, 1)}, {}) for _ in range(4000)]
    a_rotate = np.array([d["rotate"] for d in drawn])
    a_scale = np.array([[d["scale"]["x"], d["scale"]["y"]] for d in drawn])
    assert set(np.unique(shift)) == {-2, -1, 0, 1, 2}  # integers, both ends included
    assert np.all(np.abs(np.bincount((shift[:, 0] + 2).astype(int)) / len(shift) - 0.2) < 0.02)
    assert abs(rotate.min() + 15) < 0.1 and abs(rotate.max() - 15) < 0.1
    assert abs(a_rotate.min() + 15) < 0.1 and abs(a_rotate.max() - 15) < 0.1
    assert abs(rotate.std() - a_rotate.std()) < 0.3  # uniform: 30 / sqrt(12) = 8.66
    assert abs(np.corrcoef(scale.T)[0, 1]) < 0.05  # x and y drawn independently
    assert abs(np.corrcoef(a_scale.T)[0, 1]) < 0.1  # as albumentations does (keep_ratio=False)
    assert abs(scale.mean() - a_scale.mean()) < 0.005


def test_probability_and_selection() -> None:
    jitter = BatchedAffineJitter(JitterSettings(affine=0.5))
    jitter.seed(3)
    images = torch.arange(256, dtype=torch.uint8).repeat(400, 1).view(400, 1, 16, 16)
    selected = np.arange(400) < 300
    out = jitter(images, selected)
    changed = (out != images).flatten(1).any(1).numpy()
    assert not changed[300:].any()  # not selected: untouched
    assert 0.4 < changed[:300].mean() < 0.6  # selected: about half jittered


def test_only_the_affine_jitter_is_batched() -> None:
    assert JitterSettings().batchable()
    assert not JitterSettings(blur=0.2).batchable()
    assert not JitterSettings(border="reflect").batchable()
