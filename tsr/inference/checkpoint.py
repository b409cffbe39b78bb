"""Load a tsr checkpoint safely and rebuild the classifier with everything it needs.

A checkpoint is a pickle: loading one with plain `torch.load` can run any code its
author chose. tsr only ever loads with `weights_only=True` (tensors, numbers,
strings, lists and dicts; nothing is imported or called), then checks that the file
has the layout `python -m tsr.train` writes before building a `SignClassifier`
from its hyper-parameters and loading its weights strictly.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tsr.config.devices import resolve_device
from tsr.config.schema import validate
from tsr.data.preprocessing import DATA_TYPES, check_data_type, num_channels
from tsr.data.settings import DataSettings, JitterSettings
from tsr.errors import CheckpointError, ConfigError, TsrError
from tsr.io.checkpoint_file import read_checkpoint
from tsr.models.module import SignClassifier

log = logging.getLogger(__name__)

HOW_TO_GET_ONE = (
    "use a checkpoint written by `python -m tsr.train` "
    "(logs/runs/<date-time>/checkpoints/*.ckpt), or train one"
)
# The hyper-parameters without which the model cannot be rebuilt or its answers named.
REQUIRED_HPARAMS = ("backbone", "in_channels", "num_classes", "class_names", "image_size")
_ACCEPTED = frozenset(inspect.signature(SignClassifier.__init__).parameters) - {"self"}


@dataclass(frozen=True)
class ValidationSplit:
    """The track-wise validation split of a checkpoint's run (its data.* settings)."""

    val_fraction: float
    split_seed: int
    train_on_val: bool  # the validation tracks were trained on too (the final retrain)

    def describe(self) -> str:
        return f"data.val_fraction={self.val_fraction:g} data.split_seed={self.split_seed}"


def _validation_split(payload: Mapping[str, Any]) -> ValidationSplit | None:
    """The run's validation split from the data settings Lightning saved beside the model's
    hyper-parameters (checked against the data schema); None when the checkpoint predates
    them or they are not valid data settings."""
    data = payload.get("datamodule_hyper_parameters")
    if not isinstance(data, Mapping):
        return None
    keys = ("val_fraction", "split_seed", "train_on_val")
    try:
        settings = validate(DataSettings, {k: data[k] for k in keys if k in data}, "data")
    except ConfigError:
        return None
    if "val_fraction" not in data or "split_seed" not in data:
        return None
    return ValidationSplit(settings.val_fraction, settings.split_seed, settings.train_on_val)


def _roi_margin(payload: Mapping[str, Any]) -> tuple[float, float] | None:
    """The framing jitter's range from the run's data settings (None: none, or not
    recorded)."""
    data = payload.get("datamodule_hyper_parameters")
    jitter = data.get("jitter") if isinstance(data, Mapping) else None
    if not isinstance(jitter, Mapping):
        return None
    keys = ("enabled", "roi_margin")
    try:
        settings = validate(JitterSettings, {k: jitter[k] for k in keys if k in jitter}, "jitter")
    except ConfigError:
        return None
    return settings.framing


@dataclass(frozen=True)
class Classifier:
    """A trained model in eval mode on its device, with what its inputs need."""

    model: SignClassifier
    data_type: str
    image_size: int
    class_names: tuple[str, ...]
    path: Path
    # the data.roi_crop its training images had (None: whole images)
    roi_crop: float | None = None
    # its run's validation split (None: written before tsr recorded the data settings)
    validation: ValidationSplit | None = None
    # the framing jitter's margin range its training images had (data.jitter.roi_margin;
    # None: every training image at roi_crop)
    roi_margin: tuple[float, float] | None = None

    @property
    def device(self) -> torch.device:
        return self.model.input_mean.device

    @property
    def in_channels(self) -> int:
        return int(self.model.hparams.in_channels)


def _read(path: Path) -> Any:
    return read_checkpoint(path, HOW_TO_GET_ONE)


def _check_layout(path: Path, payload: Any) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    not_tsr = f"{path} is not a tsr checkpoint"
    if not isinstance(payload, Mapping):
        raise CheckpointError(f"{not_tsr} (it holds a {type(payload).__name__}); {HOW_TO_GET_ONE}.")
    state = payload.get("state_dict")
    hparams = payload.get("hyper_parameters")
    if not isinstance(state, Mapping) or not isinstance(hparams, Mapping):
        raise CheckpointError(
            f"{not_tsr} (no Lightning state_dict and hyper_parameters); {HOW_TO_GET_ONE}."
        )
    missing = [key for key in REQUIRED_HPARAMS if key not in hparams]
    if missing:
        raise CheckpointError(
            f"{not_tsr} (hyper-parameters lack {', '.join(missing)}); {HOW_TO_GET_ONE}."
        )
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{not_tsr} (its state_dict holds non-tensors); {HOW_TO_GET_ONE}.")
    names = hparams["class_names"]
    if (
        not isinstance(names, list | tuple)
        or not all(isinstance(n, str) for n in names)
        or len(names) != hparams["num_classes"]
    ):
        raise CheckpointError(
            f"{path} is damaged: its class_names do not name its {hparams['num_classes']} "
            f"classes; {HOW_TO_GET_ONE}."
        )
    unknown = sorted(set(hparams) - _ACCEPTED)
    if unknown:
        log.warning("%s: ignoring unknown hyper-parameters %s", path, ", ".join(unknown))
    return {k: v for k, v in hparams.items() if k in _ACCEPTED}, dict(state)


def _raw_weights(
    path: Path, payload: Mapping[str, Any], averaged: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The training weights a weight-averaging callback keeps beside the averaged ones."""
    raw = payload.get("current_model_state")
    if raw is None:
        raise ConfigError(
            f"raw_weights=true: {path} holds one set of weights (trained without a "
            "WeightAveraging callback such as EMAWeightAveraging, or with "
            "StochasticWeightAveraging, which keeps one set, or written after training "
            "ended): drop raw_weights=true"
        )
    if (
        not isinstance(raw, Mapping)
        or set(raw) != set(averaged)
        or not all(isinstance(v, torch.Tensor) for v in raw.values())
    ):
        raise CheckpointError(
            f"{path} is damaged: its current_model_state does not match its state_dict; "
            f"{HOW_TO_GET_ONE}."
        )
    return dict(raw)


def _run_data_type(path: Path) -> str | None:
    """The data type recorded in the run folder of a checkpoint (its .hydra/config.yaml or
    metrics.json, as `tsr.train` and sweep trials write them); for the error hint only."""
    run = path.resolve().parent.parent
    try:
        if (run / "metrics.json").is_file():
            value = json.loads((run / "metrics.json").read_text()).get("preprocessing")
        elif (run / ".hydra" / "config.yaml").is_file():
            from omegaconf import OmegaConf

            value = OmegaConf.select(
                OmegaConf.load(run / ".hydra" / "config.yaml"), "data.preprocessing"
            )
        else:
            return None
    except Exception:
        return None
    return value if value in DATA_TYPES else None


def _data_type(path: Path, recorded: str | None, override: str | None, channels: int) -> str:
    if override is not None:
        check_data_type(override)
        if recorded is not None and recorded != override:
            raise ConfigError(
                f"data_type={override} contradicts the checkpoint, trained on {recorded}: "
                "drop data_type= (the checkpoint's is used)"
            )
    data_type = recorded or override
    if data_type is None:
        hint = _run_data_type(path)
        raise CheckpointError(
            f"{path} does not record its data type (written before tsr saved it): pass "
            f"data_type={hint or '<' + '|'.join(DATA_TYPES) + '>'} "
            + ("(as its run folder records)" if hint else "(its run's data.preprocessing)")
            + ", or retrain"
        )
    if data_type not in DATA_TYPES:
        raise CheckpointError(f"{path} is damaged: unknown data type {data_type!r}.")
    if num_channels(data_type) != channels:
        raise ConfigError(
            f"data_type={data_type} gives {num_channels(data_type)}-channel images but the "
            f"checkpoint's model takes {channels}; pass the data type it was trained with"
        )
    return data_type


def load_classifier(
    path: str | os.PathLike | None,
    device: str | None = "auto",
    data_type: str | None = None,
    calibrated: bool = False,
    raw_weights: bool = False,
) -> Classifier:
    """The checkpoint's classifier in eval mode on `device`. `data_type` is needed only for
    checkpoints that do not record it. `raw_weights`: for a checkpoint written with a
    weight-averaging callback (Lightning's EMAWeightAveraging / StochasticWeightAveraging),
    the training weights at that step (`current_model_state`) instead of the averaged ones
    (`state_dict`): the same run, with and without the averaging. Raises CheckpointError /
    ConfigError, never unpickles arbitrary objects."""
    if path in (None, ""):
        raise ConfigError(
            "no checkpoint given: pass ckpt=<path to a .ckpt file> "
            "(e.g. ckpt=logs/runs/<date-time>/checkpoints/last.ckpt)"
        )
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.ckpt"))
        hint = f" (it holds {', '.join(found[:5])})" if found else ""
        raise ConfigError(f"ckpt={path} is a folder{hint}; pass one .ckpt file in it")
    if not path.is_file():
        raise ConfigError(f"ckpt={path} does not exist; {HOW_TO_GET_ONE}")
    target = resolve_device(device)
    payload = _read(path)
    hparams, state = _check_layout(path, payload)
    if raw_weights:
        state = _raw_weights(path, payload, state)
    hparams["data_type"] = _data_type(
        path, hparams.get("data_type"), data_type, hparams["in_channels"]
    )
    try:
        model = SignClassifier(**hparams)
    except RecursionError:
        raise CheckpointError(
            f"{path}: its hyper-parameters are nested too deeply to be a tsr model's; "
            f"{HOW_TO_GET_ONE}."
        ) from None
    except (TsrError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: its hyper-parameters do not build a tsr model ({exc}); it comes from "
            f"another tsr version or was edited; {HOW_TO_GET_ONE}."
        ) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())[:300]
        raise CheckpointError(
            f"{path}: its weights do not fit its model ({reason}); the file is damaged or "
            f"edited; {HOW_TO_GET_ONE}."
        ) from None
    bad = [
        name
        for name, value in state.items()
        if value.is_floating_point() and not torch.isfinite(value).all()
    ]
    if bad:
        raise CheckpointError(
            f"{path}: weights {', '.join(bad[:3])} hold NaN or infinity (a diverged or damaged "
            f"run); {HOW_TO_GET_ONE}."
        )
    if not (model.input_std > 0).all() or not math.isfinite(float(model.input_mean.sum())):
        raise CheckpointError(f"{path}: its input statistics are invalid; {HOW_TO_GET_ONE}.")
    if calibrated:
        if float(model.temperature) == 1.0:
            log.warning(
                "%s has no fitted temperature (trained before temperature scaling, without "
                "the test step, or with data.train_on_val=true, which holds no image out to "
                "fit it on): calibrated=true changes nothing",
                path,
            )
        model.calibrated = True
    model.eval().to(target)
    return Classifier(
        model=model,
        data_type=hparams["data_type"],
        image_size=int(hparams["image_size"]),
        class_names=tuple(hparams["class_names"]),
        path=path,
        roi_crop=hparams.get("roi_crop"),
        validation=_validation_split(payload),
        roi_margin=_roi_margin(payload),
    )


def load_committee(
    ckpt: Any,
    device: str | None = "auto",
    data_type: str | None = None,
    calibrated: bool = False,
    raw_weights: bool = False,
) -> list[Classifier]:
    """`ckpt` is one checkpoint or a list of them (a committee); their classifiers, which
    must name the same classes."""
    paths = (
        list(ckpt)
        if isinstance(ckpt, list | tuple) or type(ckpt).__name__ == "ListConfig"
        else [ckpt]
    )
    members = [load_classifier(path, device, data_type, calibrated, raw_weights) for path in paths]
    if len({m.class_names for m in members}) > 1:
        raise ConfigError("the checkpoints name their classes differently: not one committee")
    return members
