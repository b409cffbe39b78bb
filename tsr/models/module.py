"""The one LightningModule: wraps any registered backbone for 43-way classification.

It takes uint8 images (as the data module yields them) and centres and
normalises them on its own device with the training split's per-channel
statistics. Those statistics are buffers, so a checkpoint carries everything
needed to classify raw images.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import lightning as L
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError

from tsr.config.schema import Choice, signature_settings, validate
from tsr.errors import ConfigError
from tsr.models.optim import (
    build_optimizer,
    build_scheduler,
    optimizer_settings,
    scheduler_settings,
)
from tsr.models.registry import create_model
from tsr.models.stn import SpatialTransformer
from tsr.models.summary import count_macs, count_parameters

# 100 M parameters: 90x tsr's largest recipe, 7x the largest published GTSRB single net
# (Arcos-Garcia et al. 2018, 14.6 M); beyond it a config or checkpoint is a mistake
MAX_PARAMETERS = 100_000_000


def _default_temperature(state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    state_dict.setdefault(prefix + "temperature", torch.ones(()))


@functools.cache
def classifier_settings() -> type:
    """The schema of the classifier's arguments, read from its signature."""
    return signature_settings(SignClassifier, "model_settings")


# what every training epoch logs (what ModelCheckpoint, EarlyStopping and a sweep's pruning
# can watch) and what the test logs; tests/test_train.py checks them against a real run
EPOCH_METRICS = ("train/lr", "train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best")
TEST_METRICS = ("test/loss", "test/acc", "test/ece")


class SignClassifier(L.LightningModule):
    def __init__(
        self,
        backbone: str = "lenet",
        backbone_options: dict[str, Any] | None = None,
        in_channels: Annotated[int, Field(ge=1, le=4)] = 1,
        num_classes: Annotated[int, Field(ge=2, le=100_000)] = 43,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        class_names: list[str] | None = None,
        stn: bool = False,
        image_size: Annotated[int, Field(ge=8, le=512)] = 32,
        name: str | None = None,
        channels_last: bool = True,
        label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)] = 0.0,
        data_type: str | None = None,
        roi_crop: float | None = None,
        scheduler_interval: Choice("epoch", "step") = "epoch",
    ) -> None:
        """`name`: the model's config name (e.g. multiscale_small), shown in logs and hparams.
        `optimizer`, `scheduler`: `_target_` nodes (tsr.models.optim); the schedule steps
        once per epoch, or per optimiser step with `scheduler_interval: step`.
        `label_smoothing`: of the training loss only (val and test losses stay plain
        cross-entropy, comparable across runs).
        `data_type`: the data.preprocessing the inputs get (rgb, gray, ...); saved so that
        `tsr.evaluate` and `tsr.predict` preprocess new images as in training (None in
        checkpoints written before tsr recorded it). The model does not interpret it (models
        and data are independent); `in_channels` comes from the data module.
        `roi_crop`: the data.roi_crop its images had (null: whole images), saved the same way
        so that `tsr.evaluate` crops the test images as in training (its range is checked
        where it is used, by the data settings).
        `channels_last`: NHWC activations; measured on the 2-core CPU: inception 55 -> 34 s,
        resnet 35 -> 25 s, multiscale 70 -> 57 s per epoch (forward and backward).
        Every argument is checked against this signature's types and ranges first."""
        super().__init__()
        self.save_hyperparameters()
        settings = validate(classifier_settings(), {**self.hparams}, "model")
        self.optimizer_config = optimizer_settings(optimizer or {"name": "adam", "lr": 8.5e-4})
        self.scheduler_config = scheduler_settings(scheduler)
        self.scheduler_interval = settings.scheduler_interval
        self.label_smoothing = float(label_smoothing)
        # A spatial transformer (or nothing) in front of the backbone.
        self.stn = SpatialTransformer(in_channels, image_size) if stn else nn.Identity()
        options = backbone_options or {}
        with torch.device("meta"):  # sized without allocating: refuse absurd networks first
            size = count_parameters(
                create_model(backbone, in_channels, num_classes, image_size=image_size, **options)
            )
        if size > MAX_PARAMETERS:
            raise ConfigError(
                f"model {backbone!r} with backbone_options {dict(options)} has {size:,} "
                f"parameters, more than tsr builds ({MAX_PARAMETERS:,}; its largest recipe has "
                "1.1 M); use smaller widths"
            )
        self.backbone = create_model(
            backbone, in_channels, num_classes, image_size=image_size, **options
        )
        self._check_input_size(backbone, in_channels, image_size)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)  # conv weights; inputs follow in forward
        # Lightning's summary and graph logging run this (one raw uint8 image).
        self.example_input_array = torch.zeros(
            1, in_channels, image_size, image_size, dtype=torch.uint8
        )
        # Set from the data module's training split (see setup); saved in checkpoints.
        self.register_buffer("input_mean", torch.zeros(1, in_channels, 1, 1))
        self.register_buffer("input_std", torch.ones(1, in_channels, 1, 1))
        # Temperature scaling (Guo et al. 2017), fitted on the validation split after training
        # (tsr.training.temperature) and saved in the checkpoint; applied only when
        # `calibrated` is set (tsr.evaluate / predict / export calibrated=true). Checkpoints
        # written before it existed load with 1 (no scaling).
        self.register_buffer("temperature", torch.ones(()))
        self.calibrated = False
        self._register_load_state_dict_pre_hook(_default_temperature)
        # nan_strategy="disable": the NaN check reads the value on the host every step (a
        # device sync on CUDA); tsr.training.divergence.DivergenceGuard catches a NaN loss instead
        self.train_loss, self.val_loss, self.test_loss = (
            MeanMetric(nan_strategy="disable") for _ in range(3)
        )
        self.train_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.val_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.test_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.val_acc_best = MaxMetric()
        # expected calibration error of the test set (15 bins, as tsr.evaluate reports it)
        self.test_ece = MulticlassCalibrationError(num_classes, n_bins=15, validate_args=False)
        self._resumed_val_acc_best: float | None = None
        self.distill(None)  # labels only, unless tsr.training.distillation sets a teacher

    def _check_input_size(self, backbone: str, in_channels: int, image_size: int) -> None:
        """One blank image through the new network (eval mode, no gradients: a few ms): an
        image too small for the backbone fails here, with the fix, not in the first step."""
        network = nn.Sequential(self.stn, self.backbone).eval()
        try:
            with torch.no_grad():
                network(torch.zeros(1, in_channels, image_size, image_size))
        except RuntimeError as exc:
            reason = " ".join(str(exc).split())[:160]
            raise ConfigError(
                f"data.image_size={image_size} is too small for model {backbone!r} ({reason}); "
                "use a larger data.image_size (its recipes use 32)"
            ) from None
        finally:
            network.train()

    def set_input_stats(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.input_mean.copy_(torch.tensor(mean).view_as(self.input_mean))
        self.input_std.copy_(torch.tensor(std).view_as(self.input_std))

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if getattr(datamodule, "mean", None):
            self.set_input_stats(datamodule.mean, datamodule.std)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [0, 255] (or float [0, 1]) images -> centred, unit-variance floats."""
        if images.dtype == torch.uint8:
            images = images.float().div_(255.0)
        return (images - self.input_mean) / self.input_std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.normalize(images).contiguous(memory_format=self.memory_format)
        logits = self.backbone(self.stn(x))
        return logits / self.temperature if self.calibrated else logits

    def cost(self) -> dict[str, int]:
        """Parameters and forward MACs per image of the network (front end + backbone)."""
        network = nn.Sequential(self.stn, self.backbone)
        shape = tuple(self.example_input_array.shape[1:])
        return {"parameters": count_parameters(network), "macs": count_macs(network, shape)}

    def on_train_start(self) -> None:
        self.val_acc_best.reset()  # forget the sanity check's value
        if self._resumed_val_acc_best is not None:  # resumed: the best of the epochs before
            self.val_acc_best(self._resumed_val_acc_best)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.val_acc_best.update_called:
            checkpoint["val_acc_best"] = float(self.val_acc_best.compute())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._resumed_val_acc_best = checkpoint.get("val_acc_best")

    def on_train_epoch_start(self) -> None:
        # one tag for every optimiser, so runs with Adam and SGD overlay
        lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self.trainer.optimizers else None
        if lr is not None:
            self.log("train/lr", lr, on_step=False, on_epoch=True, sync_dist=True)

    def distill(
        self,
        teacher: Callable[[torch.Tensor], torch.Tensor] | None,
        weight: float = 0.0,
        temperature: float = 1.0,
    ) -> None:
        """Learn from a teacher's probabilities as well as from the labels (knowledge
        distillation, Hinton et al. 2015): the training loss becomes (1 - weight) x the
        cross-entropy with the labels + weight x T^2 x KL(teacher || student), both
        softened by the temperature T. `teacher(images)` gives the teacher's probabilities
        at that temperature for a training batch (as jittered); None: labels only. The
        teacher is a plain function, not a submodule: it is neither trained nor saved in
        this model's checkpoints (tsr.training.distillation loads and sets it)."""
        self._teacher = teacher
        self._distill_weight = float(weight)
        self._distill_temperature = float(temperature)

    def _distillation_loss(self, images: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        assert self._teacher is not None
        t = self._distill_temperature
        with torch.no_grad():
            target = self._teacher(images).float()
        student = F.log_softmax(logits.float() / t, dim=1)
        return F.kl_div(student, target, reduction="batchmean") * t * t

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        if self._teacher is not None:
            weight = self._distill_weight
            loss = (1 - weight) * loss + weight * self._distillation_loss(images, logits)
        # accumulated on the device; read and logged once, at the epoch's end (logging a
        # metric object every step made Lightning move it between devices every step:
        # ~1 ms per call, measured, 15 % of a LeNet step on 2 CPU cores)
        self.train_loss.update(loss)
        self.train_acc.update(logits.argmax(dim=1), labels)
        return loss

    def on_train_epoch_end(self) -> None:
        if self.train_loss.update_called:
            self.log("train/loss", self.train_loss.compute(), prog_bar=True, sync_dist=False)
            self.log("train/acc", self.train_acc.compute(), prog_bar=True, sync_dist=False)
        self.train_loss.reset()
        self.train_acc.reset()

    def validation_step(self, batch, batch_idx: int) -> None:
        images, labels = batch
        logits = self(images)
        self.val_loss.update(F.cross_entropy(logits, labels))
        self.val_acc.update(logits.argmax(dim=1), labels)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)

    def test_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        # The official test set is scored in fp32 whatever the training precision (bf16-mixed
        # keeps fp32 weights): test/acc means the same on every host and equals tsr.evaluate's.
        with torch.autocast(self.device.type, enabled=False):
            images, labels = batch
            logits = self(images)
            loss = F.cross_entropy(logits, labels)
        probs = logits.softmax(dim=1)
        preds = probs.argmax(dim=1)
        self.test_loss.update(loss)
        self.test_acc.update(preds, labels)
        self.test_ece.update(probs, labels)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)
        self.log("test/ece", self.test_ece, on_step=False, on_epoch=True)
        # for callbacks (confusion matrix, reliability diagram)
        return {"preds": preds, "labels": labels, "probs": probs}

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        images = batch[0] if isinstance(batch, list | tuple) else batch
        return self(images).softmax(dim=1)

    def configure_optimizers(self):
        optimizer = build_optimizer(self.parameters(), self.optimizer_config)
        if self.scheduler_interval == "step":
            length = int(self.trainer.estimated_stepping_batches)
        else:
            epochs = self.trainer.max_epochs
            length = epochs if epochs not in (None, -1) else 1
        scheduler = build_scheduler(optimizer, self.scheduler_config, length)
        if scheduler is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval},
        }
