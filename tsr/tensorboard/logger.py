"""Lightning's TensorBoard logger without the `epoch` scalar, and a run folder of its own.

Lightning adds the epoch number to every logged step as a scalar named `epoch`; TensorBoard
then shows it as the first card of the Time Series tab, a staircase a reader has no use
for (the x axis already is the step, and each metric's card can show relative time).
Everything else is Lightning's `TensorBoardLogger` unchanged.

`claim_run_folder`: a run's TensorBoard folder is `<save_dir>/<model>/<data type>/<launch
time>`, and two `tsr.train` commands started in the same second (a loop of `&` jobs, a
cluster's array job) got the same one: TensorBoard then drew both runs as one, their points
interleaved (seen 2026-12-06 with two runs started by one script). A new run now makes its
folder itself, atomically, and takes `<launch time>.2`, `.3`, ... when another run has it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from pathlib import Path

from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger

log = logging.getLogger(__name__)


def claim_run_folder(save_dir: str | Path, name: str | None, version: str) -> tuple[str, Path]:
    """Make `save_dir/name/version` (Lightning's layout) for a new run and return the
    version and folder it got: `version`, or `version.2`, `version.3`, ... when another run
    already holds that folder. `mkdir` without `exist_ok` is the claim, so two processes
    racing for one name never both get it."""
    parent = Path(save_dir, name or "")
    parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        candidate = version if n == 1 else f"{version}.{n}"
        try:
            (parent / candidate).mkdir()
        except FileExistsError:
            continue
        if n > 1:
            log.info("TensorBoard run %s is another run's; this run logs to %s", version, candidate)
        return candidate, parent / candidate


class TensorBoardLogger(LightningTensorBoardLogger):
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        metrics = {key: value for key, value in metrics.items() if key != "epoch"}
        if metrics:
            super().log_metrics(metrics, step)
