"""Crop each image to its sign: the region of interest the GTSRB CSVs give every image.

GTSRB images hold the sign with a border of about 10 % of its size (at least 5 pixels in the
original image); Cireşan et al. 2012 cropped to the ROI before resizing. `crop_to_rois`
does that on the stored images: the box, grown by `margin` x its size on each side, is
resampled to the whole image (bilinear; pixels outside the image repeat the edge).
`source_maps` gives the same crops as matrices, for the framing jitter
(`data.jitter.roi_margin`), which crops each training image with a margin drawn anew.
"""

from __future__ import annotations

import numpy as np

from tsr.data.opencv import cv2


def source_maps(
    boxes: np.ndarray, margin: float | np.ndarray, height: int, width: int
) -> np.ndarray:
    """(N, 3, 3) matrices taking an output pixel of the crop (height x width) to the stored
    image's pixel it samples, at pixel centres: each box (x1, y1, x2, y2), grown by `margin`
    (one for all, or one per box) x its size on each side, spread over the whole output."""
    x1, y1, x2, y2 = (boxes[:, k].astype(np.float64) for k in range(4))
    margin = np.broadcast_to(np.asarray(margin, dtype=np.float64), x1.shape)
    grow_x, grow_y = margin * (x2 - x1), margin * (y2 - y1)
    left, top = x1 - grow_x, y1 - grow_y
    # source pixel = scale * output pixel + offset
    scale_x = (x2 - x1 + 2 * grow_x) / width
    scale_y = (y2 - y1 + 2 * grow_y) / height
    maps = np.zeros((len(boxes), 3, 3))
    maps[:, 0, 0], maps[:, 0, 2] = scale_x, left + 0.5 * scale_x - 0.5
    maps[:, 1, 1], maps[:, 1, 2] = scale_y, top + 0.5 * scale_y - 0.5
    maps[:, 2, 2] = 1.0
    return maps


def crop_to_rois(images: np.ndarray, boxes: np.ndarray, margin: float) -> np.ndarray:
    """`images` (N, S, S, C) uint8; `boxes` (N, 4) float x1, y1, x2, y2, the box's edges in
    the stored image's pixels (GTSRB's `Split.rois_scaled`). Returns new (N, S, S, C) uint8
    images, each its grown box resampled to S x S."""
    n, height, width, channels = images.shape
    if boxes.shape != (n, 4):
        raise ValueError(f"{n} images need (N, 4) boxes, got {boxes.shape}")
    maps = source_maps(boxes, margin, height, width)
    out = np.empty_like(images)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for i in range(n):
        warped = cv2.warpAffine(
            images[i], maps[i, :2], (width, height), flags=flags, borderMode=cv2.BORDER_REPLICATE
        )
        out[i] = warped.reshape(height, width, channels)
    return out
