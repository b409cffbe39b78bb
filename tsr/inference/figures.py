"""The predict sheet: each input image beside a bar chart of its top-k classes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from tsr.tensorboard.figures import short

ROW_INCHES = 1.3


def prediction_sheet(
    previews: Sequence[np.ndarray],
    titles: Sequence[str],
    top_classes: np.ndarray,
    top_probs: np.ndarray,
    class_names: Sequence[str],
) -> Figure:
    """One row per image: the image (RGB as read), then its top-k probabilities, each bar
    labelled with class id, name and probability. Fixed margins and labels drawn inside
    the axes (no layout engine, no tick labels): ~4x faster to render than
    constrained layout, which matters for folders of thousands of images."""
    rows = max(1, len(previews))
    height = ROW_INCHES * rows + 0.3
    fig = Figure(figsize=(8, height))
    grid = fig.add_gridspec(
        rows,
        2,
        width_ratios=[1, 4.5],
        left=0.01,
        right=0.99,
        bottom=0.15 / height,
        top=1 - 0.3 / height,
        wspace=0.04,
        hspace=0.35,
    )
    for row in range(min(rows, len(previews))):
        image_ax = fig.add_subplot(grid[row, 0])
        bar_ax = fig.add_subplot(grid[row, 1])
        image_ax.imshow(previews[row])
        image_ax.set_axis_off()
        image_ax.set_title(short(titles[row], 24), fontsize=7)
        k = len(top_classes[row])
        positions = np.arange(k)[::-1]
        probs = top_probs[row]
        colors = ["#9fd49f"] + ["#d9d9d9"] * (k - 1)
        bar_ax.barh(positions, probs, color=colors, height=0.8)
        bar_ax.set_xlim(0, 1)
        bar_ax.set_ylim(-0.5, k - 0.5)
        bar_ax.set_xticks([])
        bar_ax.set_yticks([])
        for y, c, p in zip(positions, top_classes[row], probs, strict=True):
            label = f"{p:6.1%}  {c:>2} {short(class_names[c], 48)}"
            bar_ax.text(0.01, y, label, va="center", fontsize=6.5, family="monospace")
    return fig
