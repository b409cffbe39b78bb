"""Fault suite, a full disk while writing a checkpoint (the cache case is in test_cache):
one clear error, the checkpoints written before intact and loadable, no partial file."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import BinaryIO

import pytest
import torch

from tsr.errors import CheckpointError
from tsr.io import atomic as files
from tsr.training.run import train

from ..conftest import compose_train

CHECKPOINT_BYTES = 100_000  # smaller writes are configs and metrics


def test_disk_full_while_writing_a_checkpoint(
    tmp_path: Path, cache_dir: Path, mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = compose_train(
        tmp_path,
        cache_dir,
        mirror,
        "data.preprocessing=gray",
        "trainer.max_epochs=3",
        "debug=fast",
        "trainer.limit_train_batches=4",
        "trainer.limit_val_batches=2",
        "callbacks=minimal",
        "logger=none",
    )
    real_write = files.write_chunks
    checkpoint_writes = []

    def disk_fills_up(file: BinaryIO, data: bytes) -> None:
        """The first epoch's checkpoints fit; from the second on the disk is full
        half-way through the file."""
        if len(data) < CHECKPOINT_BYTES:
            return real_write(file, data)
        checkpoint_writes.append(len(data))
        if len(checkpoint_writes) <= 2:  # epoch 0: best and last
            return real_write(file, data)
        file.write(memoryview(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "write_chunks", disk_fills_up)
    with pytest.raises(CheckpointError, match=r"No space left on device; free disk space there"):
        train(cfg, show_summary=False)

    folder = tmp_path / "run" / "checkpoints"
    assert not list(folder.glob(".*.tmp"))  # the partial file is gone
    last = torch.load(folder / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 0 and last["global_step"] == 4  # epoch 0's, intact
    best = [p for p in folder.glob("epoch*.ckpt")]
    assert len(best) == 1 and torch.load(best[0], weights_only=True)["global_step"] == 4
    assert not (tmp_path / "run" / "metrics.json").exists()
