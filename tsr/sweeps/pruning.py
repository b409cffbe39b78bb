"""Report each epoch's validation metric to Optuna and stop trials its pruner rejects."""

from __future__ import annotations

import logging

import lightning as L
import optuna
from omegaconf import DictConfig
from optuna_integration import PyTorchLightningPruningCallback

from tsr.tensorboard import log_hparams

log = logging.getLogger(__name__)


class TrialPruning(PyTorchLightningPruningCallback):
    """optuna-integration's Lightning callback, plus: a pruned trial still writes its
    hparams (with the best validation accuracy it reached) to TensorBoard, so pruned
    runs sit beside finished ones in the HParams dashboard; and the epochs it ran are
    kept on the trial."""

    def __init__(self, trial: optuna.Trial, monitor: str, cfg: DictConfig) -> None:
        super().__init__(trial, monitor)
        self.cfg = cfg

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        score = trainer.callback_metrics.get(self.monitor)
        if not trainer.sanity_checking and score is not None:
            # Optuna's step is the epoch index (0-based), as optuna-dashboard plots it
            log.info(
                "trial %d step %d (epoch %d of %d): %s %.4f",
                self._trial.number,
                pl_module.current_epoch,
                pl_module.current_epoch + 1,
                trainer.max_epochs,
                self.monitor,
                float(score),
            )
        try:
            super().on_validation_end(trainer, pl_module)
        except optuna.TrialPruned:
            best = trainer.callback_metrics.get("val/acc_best")
            self._trial.set_user_attr("epochs", pl_module.current_epoch + 1)
            if best is not None:
                self._trial.set_user_attr("val/acc_best", float(best))
                ran = {"val/acc_best": float(best), "epochs": pl_module.current_epoch + 1}
                log_hparams(trainer, self.cfg, ran, status="pruned")
            raise
