"""Lightning's TensorBoard logger without the `epoch` scalar.

Lightning adds the epoch number to every logged step as a scalar named `epoch`; TensorBoard
then shows it as the first card of the Time Series tab, a staircase a reader has no use
for (the x axis already is the step, and each metric's card can show relative time).
Everything else is Lightning's `TensorBoardLogger` unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger


class TensorBoardLogger(LightningTensorBoardLogger):
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        metrics = {key: value for key, value in metrics.items() if key != "epoch"}
        if metrics:
            super().log_metrics(metrics, step)
