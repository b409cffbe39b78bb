"""Test-set metrics from predictions: accuracy, loss, confusion matrix, per-class P/R/F1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; rows: true class, columns: predicted."""
    pairs = labels.astype(np.int64) * num_classes + predicted.astype(np.int64)
    return np.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """0 where the denominator is 0 (a class never predicted has precision 0, as sklearn's
    zero_division=0)."""
    out = np.zeros(len(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def classification_report(
    logits: torch.Tensor, labels: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Everything `tsr.evaluate` reports, as plain JSON-ready values."""
    n = len(class_names)
    predicted = logits.argmax(dim=1).numpy()
    matrix = confusion_matrix(labels, predicted, n)
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    precision = _ratio(tp, predicted_count)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    present = support > 0  # macro averages over the classes the test set has
    loss = F.cross_entropy(logits.double(), torch.from_numpy(labels).long()).item()
    return {
        "images": len(labels),
        "accuracy": float((predicted == labels).mean()) if len(labels) else 0.0,
        "loss": loss,
        "macro": {
            "precision": float(precision[present].mean()),
            "recall": float(recall[present].mean()),
            "f1": float(f1[present].mean()),
        },
        "per_class": [
            {
                "class_id": i,
                "name": class_names[i],
                "support": int(support[i]),
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
            }
            for i in range(n)
        ],
        "confusion_matrix": matrix.tolist(),
    }
