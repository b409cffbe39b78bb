"""What a sweep prints: its own lines, Optuna's and warnings on the console (one line per
failed trial, its traceback in the trial's error.txt), everything in sweep.log."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import optuna


def _no_tracebacks(record: logging.LogRecord) -> bool:
    """Optuna logs a failed trial with its traceback; tsr keeps it in the trial's
    error.txt and shows the one-line error."""
    record.exc_info = None
    record.exc_text = None
    return True


_CONSOLE_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is now (it may be replaced after set-up)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging() -> None:
    """Console: the sweep's own lines, Optuna's, and warnings; the file gets all (INFO)."""
    root = logging.getLogger()
    if any(getattr(h, "tsr_sweep", False) for h in root.handlers):
        return
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    console = _StdoutHandler()
    console.tsr_sweep = True  # type: ignore[attr-defined]
    console.setFormatter(logging.Formatter(_CONSOLE_FORMAT))
    console.addFilter(
        lambda r: r.levelno >= logging.WARNING or r.name.startswith(("tsr.sweep", "optuna"))
    )
    console.addFilter(_no_tracebacks)
    root.setLevel(logging.INFO)
    root.addHandler(console)
    # Lightning prints through handlers of its own: route it through the filter above.
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def add_log_file(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(_CONSOLE_FORMAT))
    logging.getLogger().addHandler(handler)
    return handler
