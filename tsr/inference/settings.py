"""The options of `tsr.evaluate`, `tsr.predict` and `tsr.export`: defaults, types, ranges.

Hydra takes each command's defaults from its class here (`register_command_schemas`,
listed in `conf/<command>.yaml`), and each command checks its options against it before
it reads a checkpoint, an image or the data set.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import onnx.defs
from pydantic import AfterValidator, Field

from tsr.config.schema import Choice, Settings, defaults, store_defaults, validate
from tsr.data.preprocessing import DATA_TYPES

BatchSize = Annotated[int, Field(ge=1, le=65536)]
# the torch.export-based ONNX exporter writes opset 18 and later; up to what onnx knows
OPSETS = (18, onnx.defs.onnx_opset_version())


def _one_or_a_committee(ckpt: str | list[str] | None) -> str | list[str] | None:
    """A list of checkpoints is a committee: at least one, and each file once (twice would
    weigh it double and report it as two members)."""
    if isinstance(ckpt, list):
        if not ckpt:
            raise ValueError(
                "ckpt=[] names no checkpoint: give one (ckpt=run/checkpoints/x.ckpt) or a "
                "committee (ckpt=[a.ckpt,b.ckpt])"
            )
        seen: dict[str, str] = {}
        for path in ckpt:
            real = os.path.realpath(path)
            same = seen.get(real)
            if same is not None:
                raise ValueError(
                    f"ckpt lists {path} twice{'' if same == path else f' (as {same})'}: a "
                    "committee averages different models; name each checkpoint once"
                )
            seen[real] = path
    return ckpt


# one checkpoint, or a list: a committee that averages the members' probabilities
Checkpoints = Annotated[str | list[str] | None, AfterValidator(_one_or_a_committee)]


class CommandSettings(Settings):
    ckpt: str | None = None  # the checkpoint (.ckpt) to load
    # the data type the model was trained on; null: the one its checkpoint records
    data_type: Choice(*DATA_TYPES) | None = None
    # divide the logits by the temperature fitted on the validation split after training
    # (temperature scaling: calibrated probabilities, the same predictions)
    calibrated: bool = False
    # for a checkpoint trained with Lightning's EMAWeightAveraging (any WeightAveraging
    # callback): the raw training weights at that step instead of the averaged ones
    raw_weights: bool = False


class OnDeviceSettings(CommandSettings):
    """The commands that compute with the model here (tsr.export always traces on the CPU)."""

    device: str = "auto"  # auto: CUDA when present, else CPU; or cpu, cuda, cuda:1


class EvaluateSettings(OnDeviceSettings):
    ckpt: Checkpoints = None
    batch_size: BatchSize = 1024
    tta: bool = False  # average over small shifts, rotations and scales (as tsr.predict)
    # test: the official test set. val: the held-out tracks of the checkpoint's own run (the
    # data.val_fraction and data.split_seed it records), to choose between models or options
    # such as tta=true without looking at the test set
    split: Choice("test", "val") = "test"
    mistakes: Annotated[int, Field(ge=0, le=1000)] = 25  # in worst_mistakes.png; 0: none
    # accuracy on the corrupted test set too (tsr/data/corruptions.py: 16 kinds x 5 severities)
    robustness: bool = False
    # test images corrupted: a class-stratified seeded sample; null: all 12,630
    robustness_images: Annotated[int, Field(ge=43, le=12630)] | None = 2000
    # a baseline's report.json (lenet, evaluated with robustness=true): CE and mCE against it
    robustness_baseline: str | None = None
    # how the images are framed. null: as each model's training images were (whole, or cropped
    # to the sign with the data.roi_crop margin its checkpoint records); a margin m (0-0.5):
    # cropped to the sign's box grown by m x its size; whole: GTSRB's images uncropped (the
    # sign with a border of ~10 %). Measures how much a model depends on the framing, e.g.
    # a detector's boxes looser or tighter than GTSRB's
    roi_crop: (
        Annotated[float, Field(ge=0.0, le=0.5, allow_inf_nan=False)] | Choice("whole") | None
    ) = None


class PredictSettings(OnDeviceSettings):
    ckpt: Checkpoints = None
    inputs: str | list[str] | None = None  # image files, folders or glob patterns
    top_k: Annotated[int, Field(ge=1, le=1000)] = 5  # more than the classes: all of them
    tta: bool = False  # average over small shifts, rotations and scales of each image
    batch_size: BatchSize = 256
    # larger declared images are refused before decoding (decompression bombs)
    max_pixels: Annotated[int, Field(ge=1, le=1_000_000_000)] = 100_000_000
    sheet: bool = True  # sheet_NNN.png: each image beside its top-k bar chart
    sheet_rows: Annotated[int, Field(ge=1, le=100)] = 8
    sheet_max_images: Annotated[int, Field(ge=0, le=100_000)] = 64
    table_rows: Annotated[int, Field(ge=0, le=1_000_000)] = 50  # printed; files get all


class ExportSettings(CommandSettings):
    format: Choice("onnx", "torchscript") = "onnx"
    opset: Annotated[int, Field(ge=OPSETS[0], le=OPSETS[1])] = 18  # ONNX opset
    check: bool = True  # compare the exported model with PyTorch on random images


COMMANDS: dict[str, type[CommandSettings]] = {
    "evaluate": EvaluateSettings,
    "predict": PredictSettings,
    "export": ExportSettings,
}


def register_command_schemas() -> None:
    """`_<command>_defaults` in Hydra's ConfigStore, for conf/<command>.yaml (idempotent)."""
    for command, settings in COMMANDS.items():
        store_defaults(None, f"_{command}_defaults", defaults(settings))


def check_command(command: str, cfg: Any) -> CommandSettings:
    """The command's options checked (ConfigError naming the key and the valid range)."""
    settings = COMMANDS[command]
    return validate(settings, {k: cfg[k] for k in settings.model_fields if k in cfg}, "")
