"""The data settings (`data.*` in the configs): defaults, types and ranges in one place.

Hydra takes its `data` defaults from these classes (`conf/data/gtsrb.yaml` lists only
`_target_` and interpolations), `GtsrbDataModule` validates what it is given against them,
and `docs/configuration.md` describes them. Measured choices are explained beside the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from tsr.config.schema import Choice, Settings
from tsr.data.archives import ARCHIVES, OFFICIAL_URL
from tsr.data.preprocessing import DATA_TYPES

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
BORDERS = ("replicate", "reflect", "constant")
# the borders grid_sample has (cv2's BORDER_REFLECT_101 has no twin there): the batched jitter's
BATCHED_BORDERS = ("replicate", "constant")


class JitterSettings(Settings):
    """`data.jitter`: on-the-fly jitter of training images. Probabilities are per image;
    0 switches a transform off. The extra samples `data.min_per_class` adds are jittered
    with these settings even when `enabled` is false (unjittered copies only repeat)."""

    enabled: bool = True
    # Share of training images given the random shift/rotation/scale each time they are
    # drawn. Measured (multiscale_small, 5 epochs, test acc): 1.0 93.6 %, 0.5 96.4 %,
    # 0.25 95.7 %, no jitter 95.8 %: resampling blurs, so jittering every image makes the
    # training images unlike the sharp test images.
    affine: Probability = 0.5
    shift_px: Annotated[int, Field(ge=0, le=16)] = 2
    rotate_deg: Annotated[float, Field(ge=0.0, le=180.0, allow_inf_nan=False)] = 15.0
    # [low, high] scale factors (Sermanet & LeCun's 0.9-1.1); null: no scaling
    scale: list[Annotated[float, Field(gt=0.0, le=10.0, allow_inf_nan=False)]] | None = Field(
        default_factory=lambda: [0.9, 1.1],
        strict=False,  # a tuple from Python is fine too
    )
    border: Choice(*BORDERS) = "replicate"
    # [low, high]: the framing jitter. Each time a training image is drawn it is cropped to
    # its sign's box grown by a margin drawn uniformly from [low, high] x the box's size on
    # each side (data.roi_crop still frames validation, test and the checkpoint's users), so
    # the model learns signs framed loosely or tightly, as a detector's boxes or a hand crop
    # frame them. null: every training image framed at data.roi_crop. Needs data.roi_crop
    # and the batched jitter (the crop and the affine jitter are one warp per batch)
    roi_margin: list[Annotated[float, Field(ge=0.0, le=0.5, allow_inf_nan=False)]] | None = Field(
        default=None, strict=False
    )
    brightness_contrast: Probability = 0.0
    brightness_limit: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    contrast_limit: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    blur: Probability = 0.0
    occlusion: Probability = 0.0
    # The affine jitter of a batch in one grid_sample (tsr/data/batched_jitter.py:
    # albumentations' Affine pixel for pixel, ~1/20 of the time on a 2-core CPU); only when
    # the jitter is that transform alone with border replicate or constant. false: one
    # albumentations call per image (the results recorded before 2026-11-23 used this).
    batched: bool = True

    @property
    def framing(self) -> tuple[float, float] | None:
        """The framing jitter's margin range when it is on (None: every training image
        framed at data.roi_crop): the one answer to "is the framing jitter on"."""
        if not self.enabled or self.roi_margin is None:
            return None
        return (self.roi_margin[0], self.roi_margin[1])

    def batchable(self) -> bool:
        """True when the whole jitter is the affine transform with a border grid_sample has,
        which the batched jitter (tsr/data/batched_jitter.py) does."""
        others = self.brightness_contrast or self.blur or self.occlusion
        return not others and self.border in BATCHED_BORDERS

    @model_validator(mode="after")
    def _scale_pair(self) -> JitterSettings:
        if self.scale is not None and (len(self.scale) != 2 or self.scale[0] > self.scale[1]):
            raise ValueError(
                f"data.jitter.scale={self.scale} must be [low, high] with 0 < low <= high"
            )
        margin = self.roi_margin
        if margin is not None and (len(margin) != 2 or margin[0] > margin[1]):
            raise ValueError(
                f"data.jitter.roi_margin={margin} must be [low, high] with 0 <= low <= high <= 0.5"
            )
        return self


class DataSettings(Settings):
    """`data`: where GTSRB comes from, the data type, the split and the loaders."""

    # caches (decoded images, data types) and downloaded archives
    data_dir: Path | str = "data"
    # a folder holding the three official GTSRB_Final_*.zip archives; null: download them
    mirror: Path | str | None = None
    url: str = OFFICIAL_URL
    # archive name -> SHA-256, checked before decoding (a mirror's SHA256SUMS is checked too)
    sha256: dict[str, str] = Field(default_factory=dict)

    @field_validator("sha256", mode="before")
    @classmethod
    def _archive_sums(cls, value: object) -> object:
        """Each key an official archive's name (a misspelt one pinned nothing), each value
        64 hex digits; `+data.sha256.NAME.zip=...` (Hydra splits the name at its dot)."""
        if not isinstance(value, dict):
            return value  # pydantic says it must be a mapping
        for name, digest in value.items():
            if isinstance(digest, dict):
                raise ValueError(
                    f"data.sha256.{name}: Hydra split the archive's name at its dot; write "
                    f"'+data.sha256={{{name}.zip: <sha256>}}'"
                )
            if name not in ARCHIVES:
                raise ValueError(
                    f"data.sha256 names {name!r}, not a GTSRB archive; the names: "
                    + ", ".join(ARCHIVES)
                )
            if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                raise ValueError(
                    f"data.sha256[{name}]={digest!r} is no SHA-256 (64 hex digits, as "
                    "`sha256sum` prints them)"
                )
        return value

    # data type: each one step further along the seed's chain rgb -> gray -> sharpen ->
    # hist -> clahe (tsr/data/preprocessing.py)
    preprocessing: Choice(*DATA_TYPES) = "clahe"
    image_size: Annotated[int, Field(ge=8, le=512)] = 32
    # null: the whole image. A number m: every image (train, val, test) cropped to its sign's
    # box from the CSVs (GTSRB's ROI), grown by m x the box's size on each side, resized back
    # to image_size (tsr/data/roi.py). The model then expects images cropped this way:
    # tsr.predict's photos must be cropped around the sign (it says so)
    roi_crop: Annotated[float, Field(ge=0.0, le=0.5, allow_inf_nan=False)] | None = None
    # fraction of each class's tracks held out for validation
    val_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    split_seed: Annotated[int, Field(ge=0)] = 0
    # the final retrain: the validation tracks are trained on as well (10 % more tracks);
    # val/* then scores training images, so the epoch count comes from a run without it
    # and the last epoch is tested (callbacks.model_checkpoint.monitor=null, checked)
    train_on_val: bool = False
    # every epoch holds at least this many samples per class (extra ones jittered); 0: off.
    # At most 100,000 (an epoch of 4.3 M samples, ~120 x the training set): beyond that the
    # epoch's index arrays and jittered copies outgrow a 24 GB machine before training starts
    min_per_class: Annotated[int, Field(ge=0, le=100_000)] = 0
    jitter: JitterSettings = JitterSettings()
    batch_size: Annotated[int, Field(ge=1)] = 128
    eval_batch_size: Annotated[int, Field(ge=1)] = 1024
    # null: none on <= 3 cores, else about half the cores (max 8); more than the machine's
    # cores is capped to them (each worker holds a copy of the jitter's state and memory)
    num_workers: Annotated[int, Field(ge=0, le=256)] | None = None
    pin_memory: bool | None = None  # null: on when CUDA is available
    # cuda: keep the data set on the GPU (batches cut and jittered there; no workers)
    device: str | None = None
    persistent_workers: bool = True
    seed: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _framing_jitter(self) -> DataSettings:
        """The framing jitter crops around data.roi_crop's boxes, in the batched jitter."""
        jitter = self.jitter
        framing = jitter.framing
        if framing is None:
            return self
        if self.roi_crop is None:
            raise ValueError(
                f"data.jitter.roi_margin={list(framing)} crops the training images to "
                "their signs, but data.roi_crop=null shows the model whole images elsewhere: "
                "set data.roi_crop (the margin of validation, test and tsr.predict, e.g. "
                f"{(framing[0] + framing[1]) / 2:g}) or drop roi_margin"
            )
        if not (jitter.batched and jitter.batchable()):
            raise ValueError(
                "data.jitter.roi_margin crops each training image in the batched jitter: set "
                "data.jitter.batched=true, border replicate or constant, and no "
                "brightness_contrast, blur or occlusion (or drop roi_margin)"
            )
        return self
