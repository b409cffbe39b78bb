"""Test-set metrics from predictions: accuracy, loss, confusion matrix, per-class P/R/F1
(torchmetrics' functional classification metrics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import (
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)


def classification_report(
    logits: torch.Tensor, labels: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Everything `tsr.evaluate` reports, as plain JSON-ready values. A class never
    predicted has precision 0 (zero_division=0, as sklearn); macro averages are over the
    classes the test set has."""
    n = len(class_names)
    target = torch.from_numpy(np.asarray(labels)).long()
    predicted = logits.argmax(dim=1)
    per_class = {
        name: metric(predicted, target, n, average="none", zero_division=0).double().numpy()
        for name, metric in (
            ("precision", multiclass_precision),
            ("recall", multiclass_recall),
            ("f1", multiclass_f1_score),
        )
    }
    matrix = multiclass_confusion_matrix(predicted, target, n).numpy()
    support = matrix.sum(axis=1)
    present = support > 0
    loss = F.cross_entropy(logits.double(), target).item() if len(target) else 0.0
    return {
        "images": len(target),
        "accuracy": float((predicted == target).double().mean()) if len(target) else 0.0,
        "loss": loss,
        "macro": {name: float(values[present].mean()) for name, values in per_class.items()},
        "per_class": [
            {
                "class_id": i,
                "name": class_names[i],
                "support": int(support[i]),
                **{name: float(values[i]) for name, values in per_class.items()},
            }
            for i in range(n)
        ],
        "confusion_matrix": matrix.tolist(),
    }
