"""The HParams dashboard: each run's settings beside its best val and test accuracy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard.summary import hparams

from tsr.tensorboard.writer import tensorboard_writer

# metric tags of the HParams dashboard (scalars of their own, so the per-epoch
# val/acc and test/acc series are left as they are)
HPARAM_METRICS = {"val/acc_best": "hp/val_acc_best", "test/acc": "hp/test_acc"}


def _scalar(value: Any) -> Any:
    """TensorBoard hparams take bool, int, float or str."""
    if value is None:
        return "none"
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _class_name(node: Mapping[str, Any]) -> str:
    """`torch.optim.AdamW` -> AdamW; the old `name: adamw` form as written; none."""
    if "_target_" in node:
        return str(node["_target_"]).rsplit(".", 1)[-1]
    return str(node.get("name", "none"))


def run_hparams(cfg: DictConfig) -> dict[str, Any]:
    """The settings that tell runs apart, flattened to `section.key` scalars."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    params: dict[str, Any] = {
        "model": model.get("name") or model["backbone"],
        "model.backbone": model["backbone"],
        "model.stn": model.get("stn", False),
        "model.label_smoothing": model.get("label_smoothing", 0.0),
    }
    for key, value in (model.get("backbone_options") or {}).items():
        params[f"model.{key}"] = value
    optimizer = model.get("optimizer") or {}
    params["optimizer"] = _class_name(optimizer)
    for key, value in optimizer.items():
        if not key.startswith("_") and key != "name":
            params[f"optimizer.{key}"] = value
    params["scheduler"] = _class_name(model.get("scheduler") or {})
    params["data.preprocessing"] = data["preprocessing"]
    for key, value in data["jitter"].items():
        params[f"data.jitter.{key}"] = value
    params["data.min_per_class"] = data["min_per_class"]
    params["data.batch_size"] = data["batch_size"]
    params["trainer.max_epochs"] = cfg.trainer.max_epochs
    params["seed"] = cfg.seed
    return {key: _scalar(value) for key, value in params.items()}


def log_hparams(trainer: L.Trainer, cfg: DictConfig, metrics: Mapping[str, Any]) -> None:
    """Write the run's hparams with its final metrics (no -1 placeholder)."""
    values = {
        tag: float(metrics[key])
        for key, tag in HPARAM_METRICS.items()
        if metrics.get(key) is not None
    }
    if not values:
        return
    writer = tensorboard_writer(trainer)
    if writer is None:
        return
    # Written here rather than with Lightning's log_hyperparams, which puts the metric
    # scalars at step 0: TensorBoard drops a scalar whose step goes back in time.
    experiment, start, end = hparams(run_hparams(cfg), values)
    file_writer = writer._get_file_writer()
    for summary in (experiment, start, end):
        file_writer.add_summary(summary)
    for tag, value in values.items():
        writer.add_scalar(tag, value, trainer.global_step)
    writer.flush()
