"""The data path: archives to cache (cold), cache to tensors (warm), and the training
loader alone (preprocessed images, jitter, class rebalancing) in images per second."""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path

from omegaconf import DictConfig

from tsr.data.archives import fetch_archives
from tsr.data.gtsrb import load_gtsrb
from tsr.training.run import build


def cold_preparation_seconds(mirror: str | None, data_type: str, image_size: int = 32) -> float:
    """From the three archives to the decoded, preprocessed cache, in an empty folder."""
    with tempfile.TemporaryDirectory(prefix="tsr-bench-") as folder:
        fetch = functools.partial(fetch_archives, Path(folder), mirror)
        start = time.perf_counter()
        load_gtsrb(Path(folder), fetch, data_type, image_size)
        return time.perf_counter() - start


def warm_load_seconds(cfg: DictConfig) -> float:
    """From an existing cache to the split, in-memory training/validation/test sets."""
    datamodule, _, _ = build(cfg)
    datamodule.prepare_data()  # make sure the cache exists: not timed
    datamodule, _, _ = build(cfg)
    start = time.perf_counter()
    datamodule.setup("fit")
    return time.perf_counter() - start


def loader_images_per_s(cfg: DictConfig, batches: int) -> float:
    """Iterate the training loader alone (no model): what it can feed per second."""
    datamodule, _, _ = build(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    iterator = iter(loader)
    next(iterator)  # workers started, first batch out
    start = time.perf_counter()
    images = 0
    for _ in range(batches):
        try:
            batch, _ = next(iterator)
        except StopIteration:
            break
        images += len(batch)
    return images / (time.perf_counter() - start)
