"""Ctrl-C that stops a run at a safe point.

Python raises `KeyboardInterrupt` wherever the main thread happens to be, including
between acquiring a lock and entering the `try` that releases it (inside TensorBoard's
event writer, a queue or SQLite). The teardown that follows (the logger flushing its
writer thread, Lightning closing the run) then waits on that lock for ever: the sweep's
Ctrl-C test hung this way in roughly one run of ten. `DeferredInterrupt` makes the first
Ctrl-C set a flag and raises `KeyboardInterrupt` itself at the next batch boundary (a few
milliseconds to a second later), where no lock is held; `RecoveryCheckpoint` then saves
`last.ckpt` as before. A second Ctrl-C interrupts at once, as Python's default does.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import lightning as L

log = logging.getLogger(__name__)


class DeferredInterrupt(L.Callback):
    """First Ctrl-C: stop at the next batch boundary; second: stop now. `fired` tells the
    command that the run ended by Ctrl-C (Lightning turns it into exit status 1)."""

    fired = False

    def __init__(self) -> None:
        self._requested = False
        self._previous: Any = None
        self._installed = False

    def _handler(self, signum: int, frame: Any) -> None:
        if self._requested:  # the user insists: Python's default behaviour
            self._restore()
            DeferredInterrupt.fired = True
            raise KeyboardInterrupt
        self._requested = True
        log.warning("Ctrl-C: stopping after this batch (press again to stop at once)")

    def _restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._requested = False
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers belong to the main thread; keep Python's default
        current = signal.getsignal(signal.SIGINT)
        if current is not signal.default_int_handler:
            return  # SIGINT ignored (a background job) or handled by the embedding program
        self._previous = current
        signal.signal(signal.SIGINT, self._handler)
        self._installed = True

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore()

    def _check(self) -> None:
        if self._requested:
            self._requested = False
            self._restore()
            DeferredInterrupt.fired = True
            raise KeyboardInterrupt

    def on_train_batch_end(self, *args: Any) -> None:
        self._check()

    def on_validation_batch_end(self, *args: Any) -> None:
        self._check()

    def on_test_batch_end(self, *args: Any) -> None:
        self._check()
