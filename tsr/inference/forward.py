"""Run a classifier over uint8 images in batches; optional test-time augmentation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from tsr.data.opencv import cv2
from tsr.models.module import SignClassifier

# Test-time augmentation: small shifts, rotations and scales (degrees, scale, dx, dy), all
# inside the training jitter's range (±2 px, ±15°, 0.9-1.1), averaged with the image itself.
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


def augment(image: np.ndarray, angle: float, scale: float, dx: float, dy: float) -> np.ndarray:
    """One affine view of an (H, W, C) uint8 image; edges replicated as in training."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, scale)
    matrix[:, 2] += (dx, dy)
    out = cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return out.reshape(image.shape)


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
    for transform in TTA_TRANSFORMS:
        views = (
            np.stack([augment(image, *transform) for image in images]) if len(images) else images
        )
        probs = logits_of(model, views, batch_size).softmax(dim=1)
        total = probs if total is None else total + probs
    if advance is not None:
        advance(len(images))
    return total / len(TTA_TRANSFORMS)
