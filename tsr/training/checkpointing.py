"""Checkpoints that survive the ways research runs die.

`AtomicCheckpointIO` makes every checkpoint write atomic and durable: the bytes go to a
temporary file beside the target, are flushed to disk, then renamed over it, so a kill or
a full disk during the write leaves the previous checkpoint loadable. (Lightning's own
writer stages the file in the system temp folder and moves it, which is a copy, not an
atomic rename, when that folder is on another file system.)

`RecoveryCheckpoint` keeps `last.ckpt` current: at the end of every epoch, every
`every_n_train_steps` optimiser steps inside long epochs, and when the run is told to stop
(SIGTERM from a cluster before preemption, Ctrl-C). `python -m tsr.train ... resume=true`
continues from it.
"""

from __future__ import annotations

import errno
import io
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from tsr.errors import CheckpointError, ConfigError
from tsr.io.atomic import write_bytes_atomic

log = logging.getLogger(__name__)

LAST = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save to memory, then one atomic, fsynced write beside the target file."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        path = Path(path)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        try:
            write_bytes_atomic(path, buffer.getbuffer(), durable=True)
        except OSError as exc:
            hint = (
                "free disk space there"
                if exc.errno in (errno.ENOSPC, errno.EDQUOT)
                else "check that the folder is writable"
            )
            raise CheckpointError(
                f"could not write checkpoint {path}: {exc.strerror or exc}; {hint} "
                "(checkpoints written before are intact)"
            ) from exc


class RecoveryCheckpoint(Checkpoint):
    """Writes `<dirpath>/last.ckpt` (model, optimiser, scheduler, loop counters, callback
    states) at each epoch end, every `every_n_train_steps` steps, and on SIGTERM / Ctrl-C.

    It is a `Checkpoint`, so Lightning runs it after the other callbacks: the best-model
    checkpoint has been updated (and its state is in `last.ckpt`), and the divergence
    guard has already stopped a run whose loss went NaN, whose weights are not worth
    keeping."""

    def __init__(self, dirpath: str | Path, every_n_train_steps: int | None = None) -> None:
        if every_n_train_steps is not None and (
            isinstance(every_n_train_steps, bool)
            or not isinstance(every_n_train_steps, int)
            or every_n_train_steps < 1
        ):
            raise ConfigError(
                f"callbacks.recovery_checkpoint.every_n_train_steps={every_n_train_steps!r} "
                "must be a whole number >= 1, or null to checkpoint at epoch ends only"
            )
        self.dirpath = Path(dirpath)
        self.every_n_train_steps = every_n_train_steps
        self._saved_at_step: int | None = None

    @property
    def path(self) -> Path:
        return self.dirpath / LAST

    @property
    def state_key(self) -> str:
        return "RecoveryCheckpoint"

    def save(self, trainer: L.Trainer, reason: str) -> None:
        if trainer.global_step == self._saved_at_step:
            return
        trainer.save_checkpoint(self.path, weights_only=False)
        self._saved_at_step = trainer.global_step
        log.debug("saved %s at step %d (%s)", self.path, trainer.global_step, reason)

    def _fitting(self, trainer: L.Trainer) -> bool:
        return trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        n = self.every_n_train_steps
        if n and self._fitting(trainer) and trainer.global_step % n == 0:
            self.save(trainer, f"every {n} steps")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._fitting(trainer):
            self.save(trainer, "epoch end")

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, SIGTERMException | KeyboardInterrupt):
            return  # an error: the state may be broken; keep the last good checkpoint
        if not self._fitting(trainer):
            return
        signal_name = "SIGTERM" if isinstance(exception, SIGTERMException) else "Ctrl-C"
        self.save(trainer, signal_name)
        log.warning(
            "%s received: saved %s at epoch %d, step %d; resume with the same command "
            "and resume=true",
            signal_name,
            self.path,
            trainer.current_epoch,
            trainer.global_step,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"every_n_train_steps": self.every_n_train_steps}
