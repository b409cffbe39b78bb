"""The jitter's affine transform for a whole batch at once.

albumentations defines tsr's jitter (`build_jitter`), but it works one image at a time:
on 32x32 images its per-call overhead (~50 us) costs more than the warp itself, and on a
2-core machine there are no spare cores for DataLoader workers to hide it. This module
draws the same parameters as `A.Affine` does for tsr's settings (integer shifts in
[-shift_px, shift_px] per axis, a uniform rotation, uniform x and y scales drawn
independently), builds the same matrices (`fgeometric.create_affine_transformation_matrix`,
centred on ((w - 1) / 2, (h - 1) / 2)), and warps the batch with one `grid_sample`
(bilinear, border replicated like `cv2.BORDER_REPLICATE`, or zeros for `constant`).
tests/test_batched_jitter.py checks it against albumentations pixel by pixel.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tsr.data.roi import source_maps
from tsr.data.settings import BATCHED_BORDERS, JitterSettings

# data.jitter.border -> grid_sample padding mode (cv2's BORDER_REFLECT_101 has no
# grid_sample twin: `reflect` keeps albumentations' per-image path)
PADDING = dict(zip(BATCHED_BORDERS, ("border", "zeros"), strict=True))


def affine_matrices(
    shift: np.ndarray, rotate_deg: np.ndarray, scale: np.ndarray, height: int, width: int
) -> np.ndarray:
    """(N, 3, 3) forward pixel-coordinate matrices, as albumentations builds them:
    shift back to centre @ translate @ rotate @ scale @ shift centre to the origin."""
    n = len(rotate_deg)
    cx, cy = width / 2 - 0.5, height / 2 - 0.5
    rad = np.deg2rad(rotate_deg % 360)
    cos, sin = np.cos(rad), np.sin(rad)
    m = np.zeros((n, 3, 3))
    # rotate @ scale (albumentations' rotation matrix is [[cos, sin], [-sin, cos]])
    m[:, 0, 0], m[:, 0, 1] = cos * scale[:, 0], sin * scale[:, 1]
    m[:, 1, 0], m[:, 1, 1] = -sin * scale[:, 0], cos * scale[:, 1]
    # the centre shifts and the translation
    m[:, 0, 2] = cx + shift[:, 0] - (m[:, 0, 0] * cx + m[:, 0, 1] * cy)
    m[:, 1, 2] = cy + shift[:, 1] - (m[:, 1, 0] * cx + m[:, 1, 1] * cy)
    m[:, 2, 2] = 1.0
    return m


def sampling_grid(matrices: np.ndarray, height: int, width: int) -> torch.Tensor:
    """`affine_grid` thetas for forward pixel matrices: output normalised coordinates ->
    input normalised coordinates (align_corners=False), i.e. N @ M^-1 @ N^-1."""
    to_norm = np.array([[2 / width, 0, 1 / width - 1], [0, 2 / height, 1 / height - 1], [0, 0, 1]])
    theta = to_norm @ np.linalg.inv(matrices) @ np.linalg.inv(to_norm)
    return torch.from_numpy(theta[:, :2, :]).float()


def warp(images: torch.Tensor, matrices: np.ndarray, padding: str = "border") -> torch.Tensor:
    """uint8 (N, C, H, W) images warped by forward pixel matrices (N, 3, 3): bilinear,
    rounded back to uint8; `padding` is grid_sample's (border = cv2's BORDER_REPLICATE)."""
    _, _, height, width = images.shape
    theta = sampling_grid(matrices, height, width).to(images.device)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(
        images.float(), grid, mode="bilinear", padding_mode=padding, align_corners=False
    )
    return warped.round_().clamp_(0, 255).to(torch.uint8)


def fixed_affine(
    images: torch.Tensor, angle: float, scale: float, dx: float, dy: float
) -> torch.Tensor:
    """The same affine view of every image of a uint8 (N, C, H, W) batch: rotation by
    `angle` degrees and scaling by `scale` about the image centre, then a shift of (dx, dy)
    pixels, edges replicated (the matrix cv2.getRotationMatrix2D builds)."""
    n, _, height, width = images.shape
    matrices = affine_matrices(
        np.tile([dx, dy], (n, 1)).astype(np.float64),
        np.full(n, float(angle)),
        np.full((n, 2), float(scale)),
        height,
        width,
    )
    return warp(images, matrices, "border")


class BatchedAffineJitter:
    """Applies `config`'s affine jitter (with probability `config.affine` per image, or
    to every selected image with `always=True`) to uint8 (B, C, H, W) batches.

    With the framing jitter (`config.roi_margin`) the images are whole and `boxes` holds
    their signs' boxes (N, 4; x1, y1, x2, y2 in their pixels): every image of a batch is
    cropped to its box grown by a margin drawn from roi_margin (tsr.data.roi's crop), and
    the affine jitter, where drawn, is applied to that crop, both in one warp."""

    def __init__(self, config: JitterSettings, boxes: np.ndarray | None = None) -> None:
        self.config = config
        self.scale = tuple(config.scale) if config.scale is not None else (1.0, 1.0)
        self.padding = PADDING[config.border]
        self.framing = config.framing
        self.boxes = boxes if self.framing is not None else None
        self.rng = np.random.default_rng(0)
        self._seeded_with: int | None = None

    def seed(self, seed: int) -> None:
        """Re-seed when the process's torch seed changes (each DataLoader worker has its own)."""
        if seed != self._seeded_with:
            self.rng = np.random.default_rng(seed)
            self._seeded_with = seed

    def parameters(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = self.config
        shift = self.rng.integers(-c.shift_px, c.shift_px, size=(n, 2), endpoint=True)
        rotate = self.rng.uniform(-c.rotate_deg, c.rotate_deg, size=n)
        scale = self.rng.uniform(self.scale[0], self.scale[1], size=(n, 2))
        return shift.astype(np.float64), rotate, scale

    def __call__(
        self, images: torch.Tensor, selected: np.ndarray, index: np.ndarray | None = None
    ) -> torch.Tensor:
        """Jitter the `selected` images of the batch (each with probability
        `config.affine`); the others are returned unchanged (with the framing jitter:
        only cropped). `index`: the images' rows in `boxes`."""
        chosen = selected & (self.rng.random(len(images)) < self.config.affine)
        jittered = np.flatnonzero(chosen)
        _, _, height, width = images.shape
        if self.boxes is not None:
            if index is None:
                raise ValueError("the framing jitter needs each image's index into its boxes")
            low, high = self.framing
            margins = self.rng.uniform(low, high, size=len(images))
            matrices = np.linalg.inv(source_maps(self.boxes[index], margins, height, width))
            if len(jittered):
                jitter = affine_matrices(*self.parameters(len(jittered)), height, width)
                matrices[jittered] = jitter @ matrices[jittered]
            return warp(images, matrices, self.padding)
        if len(jittered) == 0:
            return images
        matrices = affine_matrices(*self.parameters(len(jittered)), height, width)
        images = images.clone()
        index_t = torch.from_numpy(jittered).to(images.device)
        images[index_t] = warp(images[index_t], matrices, self.padding)
        return images
