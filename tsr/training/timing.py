"""Wall-clock time per epoch, logged as metrics so runs compare on speed too."""

from __future__ import annotations

import time

import lightning as L


class EpochTimer(L.Callback):
    """Logs `time/train_epoch_s` (training batches only) and `time/epoch_s` (with validation)."""

    def __init__(self) -> None:
        self.train_seconds: list[float] = []
        self.epoch_seconds: list[float] = []
        self._epoch_start: float | None = None
        self._train_end: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        self._train_end = None

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and self._train_end is None:
            self._train_end = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._epoch_start is None:  # an epoch resumed from a mid-epoch checkpoint: partial
            return
        now = time.perf_counter()
        self.train_seconds.append((self._train_end or now) - self._epoch_start)
        self.epoch_seconds.append(now - self._epoch_start)
        self._epoch_start = None
        # under DDP: the mean over processes (one reduction per epoch)
        pl_module.log("time/train_epoch_s", self.train_seconds[-1], sync_dist=True)
        pl_module.log("time/epoch_s", self.epoch_seconds[-1], sync_dist=True)

    def state_dict(self) -> dict:
        return {"train_seconds": self.train_seconds, "epoch_seconds": self.epoch_seconds}

    def load_state_dict(self, state_dict: dict) -> None:
        self.train_seconds = list(state_dict["train_seconds"])
        self.epoch_seconds = list(state_dict["epoch_seconds"])
