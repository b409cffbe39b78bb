"""Same config and seed on CPU: identical results, whatever the worker count."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsr.training.run import train

from .conftest import compose_train

COMPARED = ("val/acc", "val/loss", "train/acc", "test/acc", "test/loss")


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_same_seed_same_metrics(tmp_path: Path, cache_dir: Path, mirror: Path, workers: int):
    """Jitter, class rebalancing, shuffling, dropout and initialisation all draw from the
    seed; two runs must agree to the last bit."""
    results = []
    for attempt in ("a", "b"):
        cfg = compose_train(
            tmp_path / attempt,
            cache_dir,
            mirror,
            "data.preprocessing=clahe",
            "data.min_per_class=300",
            f"data.num_workers={workers}",
            "trainer.max_epochs=2",
            "debug=fast",
            "trainer.limit_train_batches=12",
            "trainer.limit_val_batches=3",
            "trainer.limit_test_batches=3",
            "callbacks=minimal",
            "logger=none",
        )
        results.append(train(cfg, show_summary=False))
    first, second = results
    assert {k: first[k] for k in COMPARED} == {k: second[k] for k in COMPARED}
    assert 0 < first["test/acc"] < 1
