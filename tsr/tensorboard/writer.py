"""Find the run's TensorBoard writer; collect predictions over a split."""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter


def tensorboard_writer(trainer: L.Trainer) -> SummaryWriter | None:
    """The SummaryWriter of the first TensorBoard logger (rank 0 only), else None."""
    if not trainer.is_global_zero:
        return None
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


@dataclass
class Predictions:
    images: torch.Tensor  # uint8 (N, C, H, W), as the model got them
    labels: torch.Tensor  # (N,)
    probs: torch.Tensor  # (N, classes) softmax
    features: torch.Tensor | None  # (N, D) input of the last linear layer


def _last_linear(module: nn.Module) -> nn.Linear:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError(f"{type(module).__name__} has no linear output layer")
    return linears[-1]


@torch.no_grad()
def predict_split(
    module: L.LightningModule, loader: DataLoader, limit: int | None = None, features: bool = False
) -> Predictions:
    """Run the model (eval mode) over a loader; optionally keep penultimate features."""
    captured: list[torch.Tensor] = []
    hook = None
    if features:
        hook = _last_linear(module.backbone).register_forward_hook(
            lambda _m, inputs, _out: captured.append(inputs[0].flatten(1).float().cpu())
        )
    was_training = module.training
    module.eval()
    images, labels, probs = [], [], []
    seen = 0
    try:
        for batch_images, batch_labels in loader:
            if limit is not None and seen >= limit:
                break
            logits = module(batch_images.to(module.device))
            images.append(batch_images.cpu())
            labels.append(batch_labels.cpu())
            probs.append(logits.softmax(dim=1).float().cpu())
            seen += len(batch_labels)
    finally:
        module.train(was_training)
        if hook is not None:
            hook.remove()
    n = limit if limit is not None else seen
    return Predictions(
        images=torch.cat(images)[:n],
        labels=torch.cat(labels)[:n],
        probs=torch.cat(probs)[:n],
        features=torch.cat(captured)[:n] if features else None,
    )
