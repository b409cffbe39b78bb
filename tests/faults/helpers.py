"""Instruments for the fault tests, added to a training command as an extra callback
(`+callbacks.step_log._target_=tests.faults.helpers.StepLog`), so the real CLI runs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, BinaryIO

import lightning as L

from tsr.io import atomic as files
from tsr.training.checkpointing import AtomicCheckpointIO


class StepLog(L.Callback):
    """Appends `epoch step` to `path` after every optimiser step (flushed, so a test can
    watch progress and know which steps ran before it killed the process); `sleep_s` per
    step gives a test time to act."""

    def __init__(self, path: str, sleep_s: float = 0.0) -> None:
        self.path = Path(path)
        self.sleep_s = sleep_s

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        with self.path.open("a") as f:
            f.write(f"{trainer.current_epoch} {trainer.global_step}\n")
            f.flush()
            os.fsync(f.fileno())
        time.sleep(self.sleep_s)


def logged_steps(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [(int(e), int(s)) for e, s in (line.split() for line in lines if line.count(" ") == 1)]


class SlowCheckpointIO(AtomicCheckpointIO):
    """tsr's atomic checkpoint writer, its `slow_save`-th save slowed down (small chunks,
    a pause after each), so a test can kill the process while a checkpoint is being
    written."""

    def __init__(self, slow_save: int = 2, chunk_bytes: int = 65536, pause_s: float = 0.1):
        super().__init__()
        self.slow_save = slow_save
        self.chunk_bytes = chunk_bytes
        self.pause_s = pause_s
        self.saves = 0

    def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
        self.saves += 1
        if self.saves != self.slow_save:
            return super().save_checkpoint(checkpoint, path, storage_options)
        real_write = files.write_chunks

        def slow_write(file: BinaryIO, data: bytes) -> None:
            view = memoryview(data)
            for start in range(0, len(view), self.chunk_bytes):
                file.write(view[start : start + self.chunk_bytes])
                file.flush()
                time.sleep(self.pause_s)

        files.write_chunks = slow_write
        try:
            super().save_checkpoint(checkpoint, path, storage_options)
        finally:
            files.write_chunks = real_write
