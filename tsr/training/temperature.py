"""Temperature scaling after training: one scalar T fitted on the validation split so that
softmax(logits / T) is calibrated (Guo et al. 2017), written into the best checkpoint.

It changes no prediction (argmax is unchanged), only the confidence; `tsr.evaluate`,
`tsr.predict` and `tsr.export` use it with `calibrated=true`. metrics.json records T and
the validation and test ECE before and after.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from tsr.io.atomic import write_bytes_atomic
from tsr.metrics.calibration import calibration_report, fit_temperature
from tsr.models.module import SignClassifier

log = logging.getLogger(__name__)


@torch.no_grad()  # not inference_mode: the logits then enter L-BFGS's autograd
def _logits(model: SignClassifier, loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    logits, labels = [], []
    with torch.autocast(model.device.type, enabled=False):
        for images, targets in loader:
            logits.append(model(images.to(model.device)).float().cpu())
            labels.append(targets.cpu())
    return torch.cat(logits), torch.cat(labels)


def calibrate(
    model: SignClassifier, datamodule, checkpoint: str | None, payload: dict | None
) -> dict[str, float]:
    """Fit T on the validation split with `model`'s (best) weights; store it in the model
    and in `checkpoint` (`payload`: that file as already read, rewritten with T); return T
    and the ECE before / after on validation and test."""
    was_training = model.training
    model.eval()
    model.calibrated = False
    try:
        val_logits, val_labels = _logits(model, datamodule.val_dataloader())
        test_logits, test_labels = _logits(model, datamodule.test_dataloader())
    finally:
        model.train(was_training)
    temperature = fit_temperature(val_logits, val_labels)
    model.temperature.fill_(temperature)
    if checkpoint:
        path = Path(checkpoint)
        payload["state_dict"]["temperature"] = torch.tensor(temperature)
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        write_bytes_atomic(path, buffer.getvalue(), durable=True)

    def ece(logits: torch.Tensor, labels: torch.Tensor, t: float) -> float:
        return calibration_report((logits / t).softmax(dim=1), labels)["ece"]

    result = {
        "temperature": temperature,
        "val/ece": ece(val_logits, val_labels, 1.0),
        "val/ece_scaled": ece(val_logits, val_labels, temperature),
        "test/ece_scaled": ece(test_logits, test_labels, temperature),
    }
    log.info(
        "temperature scaling: T = %.3f (fitted on the validation split); ECE val %.2f%% -> "
        "%.2f%%, test -> %.2f%%",
        temperature,
        100 * result["val/ece"],
        100 * result["val/ece_scaled"],
        100 * result["test/ece_scaled"],
    )
    return result
