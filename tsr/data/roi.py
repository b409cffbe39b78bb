"""Crop each image to its sign: the region of interest the GTSRB CSVs give every image.

GTSRB images hold the sign with a border of about 10 % of its size (at least 5 pixels in the
original image); Cireşan et al. 2012 cropped to the ROI before resizing. `crop_to_rois`
does that on the stored images: the box, grown by `margin` x its size on each side, is
resampled to the whole image (bilinear; pixels outside the image repeat the edge).
"""

from __future__ import annotations

import numpy as np

from tsr.data.opencv import cv2


def crop_to_rois(images: np.ndarray, boxes: np.ndarray, margin: float) -> np.ndarray:
    """`images` (N, S, S, C) uint8; `boxes` (N, 4) float x1, y1, x2, y2, the box's edges in
    the stored image's pixels (GTSRB's `Split.rois_scaled`). Returns new (N, S, S, C) uint8
    images, each its grown box resampled to S x S."""
    n, height, width, channels = images.shape
    if boxes.shape != (n, 4):
        raise ValueError(f"{n} images need (N, 4) boxes, got {boxes.shape}")
    x1, y1, x2, y2 = (boxes[:, k].astype(np.float64) for k in range(4))
    grow_x, grow_y = margin * (x2 - x1), margin * (y2 - y1)
    left, top = x1 - grow_x, y1 - grow_y
    # source pixel = scale * output pixel + offset, at pixel centres
    scale_x = (x2 - x1 + 2 * grow_x) / width
    scale_y = (y2 - y1 + 2 * grow_y) / height
    offset_x = left + 0.5 * scale_x - 0.5
    offset_y = top + 0.5 * scale_y - 0.5
    out = np.empty_like(images)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for i in range(n):
        matrix = np.array([[scale_x[i], 0.0, offset_x[i]], [0.0, scale_y[i], offset_y[i]]])
        warped = cv2.warpAffine(
            images[i], matrix, (width, height), flags=flags, borderMode=cv2.BORDER_REPLICATE
        )
        out[i] = warped.reshape(height, width, channels)
    return out
