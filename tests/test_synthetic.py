"""The fast tier's synthetic archive is a GTSRB to tsr: same checks, same decoding, a
track-wise split, and a network learns it."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from tsr.data.archives import fetch_archives
from tsr.data.gtsrb import load_gtsrb
from tsr.training.run import train

from .conftest import compose_train


def test_synthetic_archive_decodes_like_gtsrb(synthetic_mirror: Path, tmp_path: Path) -> None:
    data = load_gtsrb(tmp_path, functools.partial(fetch_archives, tmp_path, synthetic_mirror))
    assert data.train.images.shape == (43 * 3 * 6, 32, 32, 3)
    assert data.test.images.shape == (43 * 4, 32, 32, 3)
    assert sorted(set(data.train.labels)) == list(range(43))
    assert len(set(data.train.tracks)) == 43 * 3  # tracks, as the file names say
    assert np.bincount(data.test.labels, minlength=43).tolist() == [4] * 43


def test_a_network_learns_the_synthetic_signs(synthetic_mirror: Path, tmp_path: Path) -> None:
    cfg = compose_train(
        tmp_path,
        tmp_path / "cache",
        synthetic_mirror,
        "data.preprocessing=rgb",
        "data.val_fraction=0.34",  # one track of three per class
        "data.batch_size=32",
        "trainer.max_epochs=10",
        "trainer.precision=32-true",
        "model.optimizer.lr=3e-3",
        "callbacks=minimal",
        "logger=none",
    )
    metrics = train(cfg, show_summary=False)
    assert metrics["test/acc"] > 0.5  # chance: 1/43
