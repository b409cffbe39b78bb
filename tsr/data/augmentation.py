"""On-the-fly jitter with albumentations (defaults: the seed's shift ±2 px, rotation ±15°).

The pipeline is built with `strict=True`, so a misspelt argument fails at start
instead of being ignored. It runs on the preprocessed uint8 images, i.e. on
what the model sees.
"""

from __future__ import annotations

import albumentations as A

from tsr.data.opencv import cv2
from tsr.data.settings import JitterSettings

BORDER_MODES = {
    "replicate": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT_101,
    "constant": cv2.BORDER_CONSTANT,
}


def build_jitter(config: JitterSettings) -> A.Compose:
    """The albumentations pipeline for `config` (used for all or only the extra samples)."""
    scale = tuple(config.scale) if config.scale is not None else (1.0, 1.0)
    transforms: list[A.BasicTransform] = [
        A.Affine(
            translate_px=(-config.shift_px, config.shift_px),
            rotate=(-config.rotate_deg, config.rotate_deg),
            scale=scale,
            border_mode=BORDER_MODES[config.border],
            fill=0,
            p=config.affine,
        )
    ]
    if config.brightness_contrast:
        transforms.append(
            A.RandomBrightnessContrast(
                brightness_limit=config.brightness_limit,
                contrast_limit=config.contrast_limit,
                p=config.brightness_contrast,
            )
        )
    if config.blur:
        transforms.append(A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.3, 1.0), p=config.blur))
    if config.occlusion:
        transforms.append(
            A.CoarseDropout(
                num_holes_range=(1, 2),
                hole_height_range=(0.1, 0.25),
                hole_width_range=(0.1, 0.25),
                fill=0,
                p=config.occlusion,
            )
        )
    return A.Compose(transforms, strict=True)
