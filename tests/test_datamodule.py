"""The data module on the real data set: loaders, statistics, config validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tsr.data import GtsrbDataModule
from tsr.data.roi import crop_to_rois
from tsr.errors import ConfigError


@pytest.fixture(scope="module")
def gray_module(cache_dir: Path, mirror: Path) -> GtsrbDataModule:
    module = GtsrbDataModule(
        data_dir=cache_dir, mirror=mirror, preprocessing="gray", batch_size=64, num_workers=0
    )
    module.setup("fit")
    return module


@pytest.mark.real_data
def test_loaders_yield_uint8_batches(gray_module: GtsrbDataModule) -> None:
    for loader, size in [
        (gray_module.train_dataloader(), 64),
        (gray_module.val_dataloader(), 1024),
        (gray_module.test_dataloader(), 1024),
    ]:
        images, labels = next(iter(loader))
        assert images.shape == (size, 1, 32, 32) and images.dtype == torch.uint8
        assert labels.shape == (size,) and labels.dtype == torch.int64
    assert len(gray_module.test_set) == 12630
    assert len(gray_module.train_set) + len(gray_module.val_set) == 39209


def test_statistics_come_from_the_training_split(gray_module: GtsrbDataModule) -> None:
    images = gray_module.train_set.images.astype(np.float64) / 255
    np.testing.assert_allclose(gray_module.mean, [images.mean()], rtol=1e-6)
    np.testing.assert_allclose(gray_module.std, [images.std()], rtol=1e-5)


def test_train_on_val_trains_on_the_validation_tracks_too(
    gray_module: GtsrbDataModule, cache_dir: Path, mirror: Path
) -> None:
    """The final retrain: every training image, the validation ones included; validation
    still runs on the same held-out tracks (now trained on)."""
    module = GtsrbDataModule(
        data_dir=cache_dir, mirror=mirror, preprocessing="gray", num_workers=0, train_on_val=True
    )
    module.setup("fit")
    assert len(module.train_set) == 39209
    np.testing.assert_array_equal(module.val_set.images, gray_module.val_set.images)
    trained = {image.tobytes() for image in module.train_set.images}
    assert all(image.tobytes() in trained for image in gray_module.val_set.images)
    assert module.mean != gray_module.mean  # the statistics include the new images


def test_roi_crop_crops_every_split_to_the_signs(
    gray_module: GtsrbDataModule, cache_dir: Path, mirror: Path
) -> None:
    """data.roi_crop: train, val and test images are their sign boxes (grown by the margin)
    resampled to the same size, with the same labels; the statistics are the crops'."""
    module = GtsrbDataModule(
        data_dir=cache_dir, mirror=mirror, preprocessing="gray", num_workers=0, roi_crop=0.0
    )
    module.setup("fit")
    whole = gray_module.load()
    expected = crop_to_rois(whole.test.images[:50], whole.test.rois_scaled()[:50], 0.0)
    np.testing.assert_array_equal(module.test_set.images[:50], expected)
    for cropped, full in (
        (module.train_set, gray_module.train_set),
        (module.val_set, gray_module.val_set),
        (module.test_set, gray_module.test_set),
    ):
        assert cropped.images.shape == full.images.shape
        np.testing.assert_array_equal(cropped.labels, full.labels)
        # a zoom of ~1.25 onto the sign: every image changes
        changed = (cropped.images != full.images).reshape(len(full.labels), -1).any(axis=1)
        assert changed.mean() > 0.99
    assert module.mean != gray_module.mean


def test_framing_jitter_crops_each_draw_with_a_new_margin(
    gray_module: GtsrbDataModule, cache_dir: Path, mirror: Path
) -> None:
    """data.jitter.roi_margin: every training image drawn is its sign's box grown by a
    margin from the range (at [m, m] and no affine jitter: data.roi_crop=m's crop, to
    interpolation rounding), drawn anew each time; validation, test and the statistics
    stay framed at data.roi_crop."""
    whole = gray_module.load().train
    train_idx = gray_module.split_indices()[0][:64]

    def framed(**options: object) -> GtsrbDataModule:
        module = GtsrbDataModule(
            data_dir=cache_dir, mirror=mirror, preprocessing="gray", num_workers=0, **options
        )
        module.setup("fit")
        return module

    def draws(margin: list[float], affine: float = 0.0) -> np.ndarray:
        module = framed(roi_crop=0.1, jitter={"roi_margin": margin, "affine": affine})
        assert module.mean == fixed.mean and module.std == fixed.std
        np.testing.assert_array_equal(module.val_set.images, fixed.val_set.images)
        images, labels = module.train_set.__getitems__(list(range(64)))
        np.testing.assert_array_equal(labels.numpy(), whole.labels[train_idx])
        return images.permute(0, 2, 3, 1).numpy().astype(int)

    fixed = framed(roi_crop=0.1)
    for m in (0.0, 0.25):
        expected = crop_to_rois(whole.images[train_idx], whole.rois_scaled()[train_idx], m)
        difference = np.abs(draws([m, m]) - expected.astype(int))
        assert difference.mean() < 0.5 and difference.max() <= 3  # cv2 vs grid_sample
    varied = draws([0.0, 0.3])
    # each image is its crop at some margin in the range (found on a grid of 0.01): the
    # margins found spread over the range
    grid = np.linspace(0.0, 0.3, 31)
    crops = np.stack(
        [crop_to_rois(whole.images[train_idx], whole.rois_scaled()[train_idx], m) for m in grid]
    ).astype(int)
    distance = np.abs(crops - varied[None]).reshape(31, 64, -1).mean(axis=2)
    assert distance.min(axis=0).max() < 3.5  # every image is one of these crops (to ~0.005)
    found = grid[distance.argmin(axis=0)]
    assert found.min() <= 0.05 and found.max() >= 0.25 and len(np.unique(found)) >= 15
    jittered = draws([0.1, 0.1], affine=1.0)
    assert np.abs(jittered - fixed.train_set.images[:64].astype(int)).mean() > 5
    # data.jitter.enabled=false turns the framing jitter off with the rest of the jitter
    off = framed(roi_crop=0.1, jitter={"roi_margin": [0.0, 0.3], "enabled": False})
    np.testing.assert_array_equal(off.train_set.images, fixed.train_set.images)


def test_rgb_has_three_channels(cache_dir: Path, mirror: Path) -> None:
    module = GtsrbDataModule(data_dir=cache_dir, mirror=mirror, preprocessing="rgb", num_workers=0)
    assert module.in_channels == 3
    module.setup("fit")
    images, _ = next(iter(module.val_dataloader()))
    assert images.shape[1] == 3 and len(module.mean) == 3


def test_jittering_workers_do_not_deadlock(cache_dir: Path, mirror: Path) -> None:
    """OpenCV's thread pool started before the fork has deadlocked workers: run 2 workers
    with jitter after OpenCV already ran in this process."""
    module = GtsrbDataModule(
        data_dir=cache_dir,
        mirror=mirror,
        preprocessing="clahe",
        num_workers=2,
        min_per_class=300,
        persistent_workers=False,
    )
    module.setup("fit")
    seen = 0
    for i, (_images, labels) in enumerate(module.train_dataloader()):
        seen += len(labels)
        if i == 20:
            break
    assert seen == 21 * 128


def test_workers_draw_different_jitter(cache_dir: Path, mirror: Path) -> None:
    """Two forked workers must not repeat each other's random jitter."""
    module = GtsrbDataModule(
        data_dir=cache_dir,
        mirror=mirror,
        preprocessing="gray",
        num_workers=2,
        batch_size=1,
        persistent_workers=False,
        jitter={"affine": 1.0},  # every draw jittered
    )
    module.setup("fit")
    dataset = module.train_set
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=1,
        sampler=[0, 0, 0, 0],
        num_workers=2,
        collate_fn=lambda batch: batch,
    )
    outs = [images for images, _ in loader]  # batches alternate: worker 0, 1, 0, 1
    assert not torch.equal(outs[0], outs[1]), "both workers drew the same jitter"
    assert not torch.equal(outs[0], outs[2])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"preprocessing": "sepia"}, "valid choices: rgb, gray, sharpen, hist, clahe"),
        ({"min_per_class": -1}, "min_per_class=-1 must be a whole number >= 0"),
        ({"min_per_class": "many"}, "min_per_class='many' must be a whole number"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"val_fraction": 1.0}, "must be a number > 0 and < 1"),
        ({"jitter": {"rotate": 5}}, "data.jitter"),
        ({"jitter": {"border": "wrap"}}, "valid choices"),
        ({"jitter": {"roi_margin": [0.3, 0.1]}}, r"roi_margin=\[0.3, 0.1\] must be \[low, high\]"),
        ({"jitter": {"roi_margin": [0.1, 0.7]}}, "must be a list of numbers, each >= 0 and <= 0.5"),
        ({"jitter": {"roi_margin": [0.0, 0.2]}}, "set data.roi_crop .* e.g. 0.1"),
        (
            {"roi_crop": 0.1, "jitter": {"roi_margin": [0.0, 0.2], "blur": 0.3}},
            "roi_margin crops each training image in the batched jitter",
        ),
    ],
)
def test_invalid_values_fail_before_data_is_touched(tmp_path: Path, overrides, message) -> None:
    # a mirror that does not exist: touching data would raise DataError instead
    with pytest.raises(ConfigError, match=message):
        GtsrbDataModule(data_dir=tmp_path, mirror=tmp_path / "none", **overrides)
    assert list(tmp_path.iterdir()) == []


def test_data_on_a_device_gives_the_same_batches(cache_dir: Path, mirror: Path) -> None:
    """`data.device` (cuda in practice; cpu here exercises the same path): batches are cut
    and jittered from tensors held on the device, same images as from host memory."""
    batches = []
    for device in (None, "cpu"):
        torch.manual_seed(0)
        dm = GtsrbDataModule(
            data_dir=cache_dir,
            mirror=mirror,
            preprocessing="gray",
            device=device,
            jitter={"enabled": False},
            batch_size=64,
        )
        dm.setup("fit")
        batches.append(next(iter(dm.val_dataloader())))
    (host_images, host_labels), (device_images, device_labels) = batches
    assert torch.equal(host_images, device_images) and torch.equal(host_labels, device_labels)
    dm = GtsrbDataModule(
        data_dir=cache_dir, mirror=mirror, preprocessing="gray", device="cpu", min_per_class=500
    )
    dm.setup("fit")
    images, labels = next(iter(dm.train_dataloader()))
    assert labels.shape == (128,)
    assert images.shape == (128, 1, 32, 32) and images.dtype == torch.uint8
    assert dm.num_workers == 0


def test_device_option_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"data\.device='tpu9' is not a device"):
        GtsrbDataModule(device="tpu9")
    # torch devices tsr cannot compute on, or that this machine lacks: one line each, not a
    # "Cannot copy out of meta tensor" or "not linked with support for mps" traceback later
    with pytest.raises(ConfigError, match=r"data\.device='meta' is no device tsr computes on"):
        GtsrbDataModule(device="meta")
    if not torch.backends.mps.is_available():
        with pytest.raises(ConfigError, match=r"data\.device='mps', but this machine has no mps"):
            GtsrbDataModule(device="mps")
    if torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"has \d+ CUDA device\(s\)"):
            GtsrbDataModule(device=f"cuda:{torch.cuda.device_count()}")


def test_the_val_sample_covers_every_class(cache_dir: Path, mirror: Path) -> None:
    module = GtsrbDataModule(data_dir=cache_dir, mirror=mirror, preprocessing="gray", num_workers=0)
    module.setup("fit")
    labels = np.concatenate([y.numpy() for _, y in module.val_sample_dataloader(100)])
    assert len(labels) == 100 and len(set(labels.tolist())) == 43
    again = np.concatenate([y.numpy() for _, y in module.val_sample_dataloader(100)])
    np.testing.assert_array_equal(labels, again)  # seeded
