"""The five data types of the seed's chain rgb -> gray -> sharpen -> hist -> clahe."""

from __future__ import annotations

import numpy as np
import pytest

from tsr.data.gtsrb import Gtsrb
from tsr.data.opencv import cv2
from tsr.data.preprocessing import DATA_TYPES, channel_stats, num_channels, preprocess
from tsr.errors import ConfigError
from tsr.inference.images import model_input


@pytest.fixture(scope="module")
def sample(gtsrb: Gtsrb) -> np.ndarray:
    return gtsrb.train.images[::97]  # ~400 real images of every class


def test_channels_follow_the_data_type(sample: np.ndarray) -> None:
    for data_type in DATA_TYPES:
        out = preprocess(sample, data_type)
        assert out.shape == (*sample.shape[:3], num_channels(data_type))
        assert out.dtype == np.uint8
    assert num_channels("rgb") == 3 and num_channels("clahe") == 1


def test_prediction_preprocesses_one_image_as_training_does_a_batch(sample: np.ndarray) -> None:
    """tsr.predict prepares each image on its own (tsr.inference.images.model_input); the
    data module prepares whole arrays: the same pixels, for every data type."""
    for data_type in DATA_TYPES:
        one_by_one = np.stack([model_input(image, 32, data_type) for image in sample[:50]])
        np.testing.assert_array_equal(one_by_one, preprocess(sample[:50], data_type))


def test_each_type_is_one_step_of_the_chain(sample: np.ndarray) -> None:
    gray = preprocess(sample, "gray")[..., 0]
    expected = np.stack([cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in sample])
    np.testing.assert_array_equal(gray, expected)
    sharpen = preprocess(sample, "sharpen")[..., 0]
    assert sharpen.std() > gray.std()  # sharpening raises local contrast
    hist = preprocess(sample, "hist")[..., 0]
    np.testing.assert_array_equal(hist, np.stack([cv2.equalizeHist(im) for im in sharpen]))
    # equalised images use the whole range
    assert np.median(hist.reshape(len(hist), -1).max(1)) == 255
    assert np.median(hist.reshape(len(hist), -1).min(1)) == 0
    clahe = preprocess(sample, "clahe")[..., 0]
    assert not np.array_equal(clahe, hist)


def test_unknown_data_type_lists_choices(sample: np.ndarray) -> None:
    with pytest.raises(ConfigError, match="rgb, gray, sharpen, hist, clahe"):
        preprocess(sample, "sepia")


def test_channel_stats_match_numpy(sample: np.ndarray) -> None:
    mean, std = channel_stats(sample)
    as_float = sample.astype(np.float64) / 255
    np.testing.assert_allclose(mean, as_float.mean(axis=(0, 1, 2)), rtol=1e-9)
    np.testing.assert_allclose(std, as_float.std(axis=(0, 1, 2)), rtol=1e-6)
