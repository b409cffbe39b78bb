"""Matplotlib figures for TensorBoard.

Built with `matplotlib.figure.Figure` directly (not pyplot): no GUI backend, no
global figure registry to leak memory over a long run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure


def short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def confusion_figure(matrix: np.ndarray, class_names: Sequence[str]) -> Figure:
    """Row-normalised confusion matrix (rows: true class, columns: predicted)."""
    counts = matrix.sum(axis=1, keepdims=True)
    rates = np.divide(matrix, counts, out=np.zeros_like(matrix, dtype=float), where=counts > 0)
    n = len(class_names)
    fig = Figure(figsize=(14, 12), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    labels = [f"{i} {short(name)}" for i, name in enumerate(class_names)]
    ax.set_xticks(range(n), labels=[str(i) for i in range(n)], fontsize=6)
    ax.set_yticks(range(n), labels=labels, fontsize=6)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i, j in zip(*np.nonzero(matrix), strict=True):
        if i != j:  # mark every confusion with its count
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=4, color="red")
    fig.colorbar(image, ax=ax, fraction=0.03, label="fraction of the true class")
    return fig


def per_class_accuracy_figure(accuracy: np.ndarray, class_names: Sequence[str]) -> Figure:
    n = len(class_names)
    fig = Figure(figsize=(8, 11), layout="constrained")
    ax = fig.subplots()
    order = np.arange(n)[::-1]
    ax.barh(range(n), accuracy[order], color="tab:blue")
    ax.set_yticks(range(n), labels=[f"{i} {short(class_names[i])}" for i in order], fontsize=6)
    ax.set_xlim(min(0.5, float(accuracy.min())) if n else 0, 1)
    ax.set_xlabel("accuracy")
    ax.axvline(float(accuracy.mean()), color="tab:red", lw=1, label="mean over classes")
    ax.legend(loc="lower left", fontsize=7)
    return fig


def image_for_display(image: torch.Tensor) -> np.ndarray:
    """uint8 (C, H, W) -> (H, W[, 3]) array for imshow."""
    array = image.permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[2] == 1 else array


def mistakes_figure(
    images: torch.Tensor,
    true: Sequence[int],
    predicted: Sequence[int],
    confidence: Sequence[float],
    class_names: Sequence[str],
    columns: int = 5,
) -> Figure:
    rows = max(1, -(-len(images) // columns))
    fig = Figure(figsize=(columns * 2.4, rows * 2.7), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, t, p, c in zip(axes.flat, images, true, predicted, confidence, strict=False):
        ax.imshow(image_for_display(image), cmap="gray", vmin=0, vmax=255)
        ax.set_title(
            f"true: {short(class_names[t], 22)}\npred: {short(class_names[p], 22)} ({c:.0%})",
            fontsize=6,
        )
    return fig


def reliability_figure(bins: Sequence[dict], ece: float, title: str = "") -> Figure:
    """Reliability diagram: accuracy against confidence per bin (bars), the diagonal of a
    perfectly calibrated model, and the share of images per bin (below)."""
    figure = Figure(figsize=(5, 5.6), layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    width = 1.0 / len(bins)
    lows = np.array([b["low"] for b in bins])
    accuracy = np.array([b["accuracy"] if b["count"] else np.nan for b in bins])
    confidence = np.array([b["confidence"] if b["count"] else np.nan for b in bins])
    counts = np.array([b["count"] for b in bins], dtype=float)
    top.bar(lows, accuracy, width=width, align="edge", color="tab:blue", label="accuracy")
    top.bar(
        lows,
        confidence - accuracy,
        bottom=accuracy,
        width=width,
        align="edge",
        color="tab:red",
        alpha=0.35,
        label="gap to confidence",
    )
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1)
    top.legend(loc="upper left", fontsize=8)
    top.set_title(f"{title} ECE {ece:.2%} ({len(bins)} bins)".strip())
    bottom.bar(lows, counts / max(counts.sum(), 1), width=width, align="edge", color="gray")
    bottom.set_yscale("log")
    bottom.set_ylabel("share of images")
    bottom.set_xlabel("confidence (top-1 probability)")
    bottom.set_xlim(0, 1)
    return figure


def robustness_figure(accuracy: dict[str, list[float]], clean: float, title: str = "") -> Figure:
    """Accuracy per corruption (rows) and severity 1-5 (columns), with the clean accuracy."""
    kinds = list(accuracy)
    values = np.array([accuracy[k] for k in kinds])
    figure = Figure(figsize=(6, 0.32 * len(kinds) + 1.6), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (row, col), value in np.ndenumerate(values):
        ax.text(
            col,
            row,
            f"{value:.0%}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value < 0.6 else "black",
        )
    ax.set_xticks(range(values.shape[1]), labels=[str(s + 1) for s in range(values.shape[1])])
    ax.set_yticks(range(len(kinds)), labels=kinds, fontsize=8)
    ax.set_xlabel("severity")
    ax.set_title(
        f"{title} accuracy under corruption (clean {clean:.1%}, mean {values.mean():.1%})".strip(),
        fontsize=9,
    )
    figure.colorbar(image, ax=ax, fraction=0.04)
    return figure
