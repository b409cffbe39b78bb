"""Knowledge distillation: train one net towards a committee's probabilities.

`callbacks.distillation.teachers=[a.ckpt,b.ckpt,...]` loads the checkpoints with the same
safe loader `tsr.evaluate` uses (tsr.inference.checkpoint: weights only, layout checked),
refuses any whose inputs differ from this run's (data type, ROI crop, image size, classes)
before any image is read, and then, at every training step, gives the student the
committee's average probability at temperature `temperature` for the very batch it trains
on, jitter included (Hinton et al. 2015; Ba & Caruana 2014 for a committee as teacher).
The student's loss is (1 - `weight`) x its cross-entropy with the labels (label smoothing
as configured) + `weight` x T^2 x KL(committee || student): SignClassifier.distill.

The teachers run in eval mode without gradients, in the trainer's precision, on the
student's device. They cost one forward pass each per step: measure the epoch time before
choosing how many. Validation and test score the student alone; the teachers are not saved
in its checkpoints (the run's config.yaml names them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any

import lightning as L
import torch
from pydantic import Field

from tsr.config.schema import signature_settings, validate
from tsr.errors import ConfigError
from tsr.inference.checkpoint import Classifier, load_committee

log = logging.getLogger(__name__)

KEY = "callbacks.distillation"


class Distillation(L.Callback):
    """`teachers`: checkpoints whose averaged probabilities the run also learns from (empty:
    off, the callback does nothing; null: a recipe that needs them and was not given them,
    refused). `weight`: the share of the loss given to them.
    `temperature`: softens teacher and student alike (Hinton et al. use 2-20; higher passes
    on more of how the teachers rank the wrong classes)."""

    def __init__(
        self,
        teachers: Sequence[str] | None = (),
        weight: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] = 0.5,
        temperature: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)] = 4.0,
    ) -> None:
        settings = validate(
            signature_settings(Distillation, "distillation_settings"),
            {"teachers": teachers, "weight": weight, "temperature": temperature},
            KEY,
        )
        if settings.teachers is None:
            raise ConfigError(
                f"{KEY}.teachers is not set: this configuration distils from a committee; "
                f'list its checkpoints: "{KEY}.teachers=[a.ckpt,b.ckpt]"'
            )
        self.teachers = [str(path) for path in settings.teachers]
        if any(not path.strip() for path in self.teachers):
            raise ConfigError(f"{KEY}.teachers holds an empty path: list checkpoint files")
        self.weight = settings.weight
        self.temperature = settings.temperature
        self.enabled = bool(self.teachers)
        self._members: list[Classifier] | None = None

    def check(self, datamodule: Any) -> None:
        """Load the teachers and refuse any that saw other inputs than this run's images
        (before any image is read): a teacher must be scored on the images the student
        trains on, cropped and preprocessed the same way."""
        if not self.enabled:
            return
        members = load_committee(self.teachers, device="cpu")
        ours = {
            "data.preprocessing": datamodule.preprocessing,
            "data.roi_crop": datamodule.settings.roi_crop,
            "data.image_size": datamodule.image_size,
            "classes": tuple(datamodule.class_names),
        }
        for member in members:
            theirs = {
                "data.preprocessing": member.data_type,
                "data.roi_crop": member.roi_crop,
                "data.image_size": member.image_size,
                "classes": member.class_names,
            }
            differ = [key for key in ours if ours[key] != theirs[key]]
            if differ:
                shown = (
                    "; ".join(
                        f"{key}: teacher {theirs[key]!r}, this run {ours[key]!r}"
                        for key in differ
                        if key != "classes"
                    )
                    or "its classes differ"
                )
                raise ConfigError(
                    f"{KEY}.teachers: {member.path} was trained on other inputs ({shown}); "
                    "a teacher must see the student's images: pick teachers trained with "
                    "this run's data settings, or set them on this run"
                )
        self._members = members
        log.info(
            "distilling from %d teacher(s), weight %g, temperature %g: %s",
            len(members),
            self.weight,
            self.temperature,
            ", ".join(str(m.path) for m in members),
        )

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled:
            return
        if self._members is None:  # a trainer built without tsr.training.run.build
            self.check(trainer.datamodule)
        assert self._members is not None
        models = [member.model.to(pl_module.device).eval() for member in self._members]
        temperature = self.temperature

        def committee(images: torch.Tensor) -> torch.Tensor:
            probs = [(model(images).float() / temperature).softmax(dim=1) for model in models]
            return torch.stack(probs).mean(dim=0)

        pl_module.distill(committee, self.weight, temperature)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.enabled:
            pl_module.distill(None)  # test and calibration score the student alone
