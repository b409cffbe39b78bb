"""Calibration on the test set: expected calibration error and the reliability diagram's bins.

ECE is torchmetrics' `MulticlassCalibrationError` (15 equal-width bins of the top-1
probability, L1 norm), as in Guo et al. 2017. The per-bin table is what the diagram draws.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics.classification import MulticlassCalibrationError

BINS = 15


def calibration_report(
    probs: torch.Tensor, labels: torch.Tensor, bins: int = BINS
) -> dict[str, Any]:
    """{"ece": float, "bins": [{low, high, count, confidence, accuracy}, ...]}"""
    labels = torch.as_tensor(labels)
    ece = MulticlassCalibrationError(probs.shape[1], n_bins=bins, norm="l1")(probs, labels)
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    index = torch.bucketize(confidence, edges[1:-1], right=True)  # torchmetrics' binning
    table = []
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        table.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "confidence": float(confidence[inside].mean()) if count else None,
                "accuracy": float(correct[inside].mean()) if count else None,
            }
        )
    return {"ece": float(ece), "bins": table}


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature T minimising the cross-entropy of `logits / T` (Guo et al. 2017):
    one parameter, fitted with torch's L-BFGS on log T (so T stays positive)."""
    logits, labels = logits.detach().float().clone(), torch.as_tensor(labels).long().clone()
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())
