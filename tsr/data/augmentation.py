"""On-the-fly jitter with albumentations (defaults: the seed's shift ±2 px, rotation ±15°).

The pipeline is built with `strict=True`, so a misspelt argument fails at start
instead of being ignored. It runs on the preprocessed uint8 images, i.e. on
what the model sees.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import albumentations as A

from tsr.config.checks import check_type
from tsr.data.opencv import cv2
from tsr.errors import ConfigError

BORDER_MODES = {
    "replicate": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT_101,
    "constant": cv2.BORDER_CONSTANT,
}


@dataclass(frozen=True)
class JitterConfig:
    """`data.jitter`. Probabilities are per image; 0 switches a transform off.

    `enabled` jitters every training image. The extra samples that
    `data.min_per_class` adds are jittered with these settings even when
    `enabled` is false: unjittered copies would only repeat images.
    """

    enabled: bool = True
    # warp a batch's jittered images in one call (tsr.data.batched_jitter: albumentations'
    # Affine, tested pixel for pixel) when the jitter is the affine transform alone
    batched: bool = True
    affine: float = 1.0  # probability of the shift/rotation/scale per image
    shift_px: int = 2
    rotate_deg: float = 15.0
    scale: Sequence[float] | None = None  # e.g. [0.9, 1.1]
    border: str = "replicate"
    brightness_contrast: float = 0.0
    brightness_limit: float = 0.2
    contrast_limit: float = 0.2
    blur: float = 0.0
    occlusion: float = 0.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            check_type(f"data.jitter.{field.name}", getattr(self, field.name), field.type)
        if self.shift_px < 0 or self.rotate_deg < 0:
            raise ConfigError("data.jitter.shift_px and rotate_deg must be >= 0")
        if self.border not in BORDER_MODES:
            raise ConfigError(
                f"unknown data.jitter.border={self.border!r}; valid choices: "
                + ", ".join(BORDER_MODES)
            )
        if self.scale is not None and (
            len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]
        ):
            raise ConfigError(
                f"data.jitter.scale={self.scale} must be [low, high] with 0 < low <= high"
            )
        for name in ("affine", "brightness_contrast", "blur", "occlusion"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"data.jitter.{name}={getattr(self, name)} is a probability: 0..1"
                )


def build_jitter(config: JitterConfig) -> A.Compose:
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
