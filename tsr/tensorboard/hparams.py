"""The HParams dashboard: each run's settings beside its best val and test accuracy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from tsr.tensorboard.writer import tensorboard_writer

# metric tags of the HParams dashboard (scalars of their own, so the per-epoch
# val/acc and test/acc series are left as they are)
HPARAM_METRICS = {"val/acc_best": "hp/val_acc_best", "test/acc": "hp/test_acc"}


def _scalar(value: Any) -> Any:
    """TensorBoard hparams take int, float or str; booleans as true/false (TensorBoard
    shows a bool hparam as 0.0/1.0)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
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
        # Capitalised: TensorBoard opens the HParams tab on the first five differing hparams
        # sorted by name, and capitals sort first, so a comparison opens on these columns
        "Model": model.get("name") or model["backbone"],
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
    params["Data type"] = data["preprocessing"]
    for key, value in data["jitter"].items():
        params[f"data.jitter.{key}"] = value
    params["data.min_per_class"] = data["min_per_class"]
    params["data.batch_size"] = data["batch_size"]
    params["trainer.max_epochs"] = cfg.trainer.max_epochs
    params["seed"] = cfg.seed
    return {key: _scalar(value) for key, value in params.items()}


# TensorBoard's session statuses (it has none for "stopped early": a pruned trial is
# UNKNOWN there, never SUCCESS, and the `status` hparam column says pruned)
STATUSES = {
    "complete": api_pb2.STATUS_SUCCESS,
    "pruned": api_pb2.STATUS_UNKNOWN,
    "failed": api_pb2.STATUS_FAILURE,
}


def _session_end(status: int) -> Summary:
    """The session-end summary with a chosen status (torch's always says success)."""
    content = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status), version=0
    ).SerializeToString()
    metadata = SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(plugin_name="hparams", content=content)
    )
    return Summary(value=[Summary.Value(tag="_hparams_/session_end_info", metadata=metadata)])


def log_hparams(
    trainer: L.Trainer, cfg: DictConfig, metrics: Mapping[str, Any], status: str = "complete"
) -> None:
    """Write the run's hparams with its final metrics (no -1 placeholder), the epochs it
    really ran and its status (a pruned trial: aborted).

    No run writes an experiment summary: TensorBoard then builds one over all runs, with
    every hparam any run has (options only some models have included) and those whose
    values differ first, which are the columns the HParams tab opens with."""
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
    params = run_hparams(cfg)
    # the epochs it really ran (a pruned trial stops inside an epoch's validation)
    params["Epochs"] = int(metrics.get("epochs") or trainer.current_epoch + 1)
    params["Status"] = status
    logger = (cfg.get("logger") or {}).get("tensorboard") or {}
    params["Kind"] = "sweep trial" if str(logger.get("name", "")).startswith("sweeps/") else "run"
    # Written here rather than with Lightning's log_hyperparams, which puts the metric
    # scalars at step 0: TensorBoard drops a scalar whose step goes back in time.
    file_writer = writer._get_file_writer()
    _experiment, session_start, _end = hparams_summaries(params, values)
    file_writer.add_summary(session_start)
    file_writer.add_summary(_session_end(STATUSES[status]))
    for tag, value in values.items():
        writer.add_scalar(tag, value, trainer.global_step)
    writer.flush()
