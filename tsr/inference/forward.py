"""Run a classifier over uint8 images in batches; optional test-time augmentation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from tsr.data.batched_jitter import fixed_affine
from tsr.models.module import SignClassifier

# Test-time augmentation: small shifts, rotations and scales (degrees, scale, dx, dy), all
# inside the training jitter's range (±2 px, ±15°, 0.9-1.1), averaged with the image itself;
# warped by the training jitter's own batched warp (tsr.data.batched_jitter.fixed_affine).
TTA_TRANSFORMS: tuple[tuple[float, float, float, float], ...] = (
    (0, 1.0, 0, 0),
    (-8, 1.0, 0, 0),
    (8, 1.0, 0, 0),
    (0, 0.93, 0, 0),
    (0, 1.07, 0, 0),
    (0, 1.0, 1.5, 0),
    (0, 1.0, -1.5, 0),
    (0, 1.0, 0, 1.5),
    (0, 1.0, 0, -1.5),
)


@torch.inference_mode()
def logits_of(
    model: SignClassifier,
    images: np.ndarray,
    batch_size: int = 512,
    advance: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """(N, H, W, C) uint8 images -> (N, classes) float32 logits on the CPU."""
    device = model.input_mean.device
    out = []
    for start in range(0, len(images), batch_size):
        chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        out.append(model(chunk.permute(0, 3, 1, 2).to(device)).float().cpu())
        if advance is not None:
            advance(len(chunk))
    if not out:
        return torch.empty(0, int(model.hparams.num_classes))
    return torch.cat(out)


def probabilities_of(
    model: SignClassifier,
    images: np.ndarray,
    batch_size: int = 512,
    tta: bool = False,
    advance: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Softmax probabilities; with `tta`, averaged over `TTA_TRANSFORMS` of each image."""
    if not tta:
        return logits_of(model, images, batch_size, advance).softmax(dim=1)
    total = None
    batch = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    for transform in TTA_TRANSFORMS:
        views = fixed_affine(batch, *transform) if len(images) else batch
        probs = logits_of(model, views.permute(0, 2, 3, 1).numpy(), batch_size).softmax(dim=1)
        total = probs if total is None else total + probs
    if advance is not None:
        advance(len(images))
    return total / len(TTA_TRANSFORMS)
