"""Build and run one training run from its config: data module, model, trainer, fit, test
on the official test set, `metrics.json`. `python -m tsr.train` and every sweep trial run
through `train`; benchmarks and tests build through `build`."""

from __future__ import annotations

import json
import logging
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from tsr.config.resolvers import register_resolvers
from tsr.errors import CheckpointError, ConfigError, TsrError
from tsr.io.atomic import write_json
from tsr.io.checkpoint_file import read_checkpoint
from tsr.io.folders import folder_problem
from tsr.models import EPOCH_METRICS, TEST_METRICS
from tsr.models.summary import format_count
from tsr.tensorboard import log_hparams
from tsr.tensorboard.logger import claim_run_folder
from tsr.training.allocator import keep_freed_memory
from tsr.training.budget import TimeBudget
from tsr.training.config_store import register_schemas
from tsr.training.distillation import Distillation
from tsr.training.interrupts import DeferredInterrupt
from tsr.training.precision import resolve_precision
from tsr.training.provenance import write_provenance
from tsr.training.resume import (
    FINISHED_MARKER,
    continue_in_place,
    find_finished_run,
    move_log_into,
    refuse_to_overwrite,
    resume_point,
    weights_problem,
)
from tsr.training.settings import check_run_settings
from tsr.training.temperature import calibrate
from tsr.training.timing import EpochTimer

log = logging.getLogger(__name__)
register_resolvers()  # the configs' ${run_id:...}, resolved when `build` instantiates them
register_schemas()  # the schema's defaults for the configs' defaults lists


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a config group (callbacks, loggers)."""
    return [instantiate(node) for node in (group or {}).values() if node and "_target_" in node]


def _instantiate(cfg: DictConfig, build_fn):
    """Run `build_fn`; Hydra wraps constructor errors in InstantiationException: a
    TsrError inside is re-raised as it is, anything else becomes a ConfigError."""
    try:
        return build_fn()
    except Exception as exc:
        cause = exc
        while cause.__cause__ is not None and not isinstance(cause, TsrError):
            cause = cause.__cause__
        if isinstance(cause, TsrError):
            raise cause from None
        raise ConfigError(_refusal(exc, cause)) from exc


def _refusal(exc: BaseException, cause: BaseException) -> str:
    """One line: the config key, the class that refused it and its own reason (Hydra's
    message: "Error in call to target '...Trainer':", the exception's repr, "full_key: trainer"
    on three lines)."""
    text = str(exc)
    key = re.search(r"full_key: (\S+)", text)
    target = re.search(r"Error in call to target '([^']+)'", text)
    if key is None or target is None or cause is exc:
        return "invalid configuration: " + " ".join(text.split())
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return f"{key.group(1)}: {target.group(1).rpartition('.')[2]} refused its settings: {reason}"


def build_data_and_model(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule]:
    """The data module (no data read yet) and the model of `cfg`."""
    check_run_settings(cfg)

    def make():
        datamodule = instantiate(cfg.data, _convert_="all")
        model = instantiate(
            cfg.model,
            _recursive_=False,  # optimizer and scheduler stay config nodes (saved in checkpoints)
            in_channels=datamodule.in_channels,
            num_classes=datamodule.num_classes,
            class_names=list(datamodule.class_names),
            image_size=datamodule.image_size,
            data_type=datamodule.preprocessing,
            roi_crop=datamodule.settings.roi_crop,
            _convert_="all",
        )
        return datamodule, model

    return _instantiate(cfg, make)


def _check_selection(cfg: DictConfig) -> None:
    """ConfigError when the best checkpoint would be chosen on a metric no epoch logs
    (Lightning says so only after the first epoch) or on images the net trains on."""
    checkpoint = (cfg.get("callbacks") or {}).get("model_checkpoint") or {}
    monitor = checkpoint.get("monitor")
    if monitor is not None and monitor not in EPOCH_METRICS:
        raise ConfigError(
            f"callbacks.model_checkpoint.monitor={monitor!r} is no metric a training epoch "
            f"logs; choose one of: {', '.join(EPOCH_METRICS)} (or null: keep the last epoch)"
        )
    if cfg.data.get("train_on_val") and monitor and str(monitor).startswith("val/"):
        raise ConfigError(
            f"data.train_on_val=true trains on the validation images, so choosing the "
            f"checkpoint on {monitor} would pick on training images: add "
            f"callbacks.model_checkpoint.monitor=null (the last epoch is kept and tested)"
        )


def build(
    cfg: DictConfig, callbacks: Sequence[L.Callback] = ()
) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """Instantiate everything from the config; checks every value before data is touched.
    `callbacks` are added to the configured ones (a sweep's pruning callback)."""
    datamodule, model = build_data_and_model(cfg)
    _check_selection(cfg)
    keep_freed_memory()  # glibc: no fresh pages every step (tsr.training.allocator, measured)
    resolve_precision(cfg.trainer)  # trainer.precision=auto: bf16 where the hardware pays
    trainer = _instantiate(
        cfg,
        lambda: instantiate(
            cfg.trainer,
            callbacks=[
                DeferredInterrupt(),  # Ctrl-C at a batch boundary, never inside a lock
                *_instantiate_all(cfg.get("callbacks")),
                *callbacks,
            ],
            logger=_instantiate_all(cfg.get("logger")) or False,
        ),
    )
    for callback in trainer.callbacks:
        if isinstance(callback, TimeBudget):
            callback.check(trainer.max_epochs)
        if isinstance(callback, Distillation):
            callback.check(datamodule)  # the teachers read and matched before any image
    return datamodule, model, trainer


def _claim_log_folders(cfg: DictConfig) -> list[Path]:
    """Give each TensorBoard logger of a new run a folder no other run writes to (set into
    `cfg`, so `config.yaml` records it and a resumed run finds it); the folders made."""
    made = []
    for name, node in (cfg.get("logger") or {}).items():
        key = f"logger.{name}.save_dir"
        if not node or not str(node.get("_target_", "")).endswith("TensorBoardLogger"):
            continue
        if node.get("version") is None:  # Lightning numbers version_0, version_1, ...
            continue
        problem = folder_problem(str(Path(node.save_dir, node.get("name") or "")), key)
        if problem:
            raise ConfigError(problem)
        version, folder = claim_run_folder(node.save_dir, node.get("name"), str(node.version))
        node.version = version
        made.append(folder)
    return made


def _load_selected_weights(model: L.LightningModule, path: str) -> dict[str, Any]:
    """Put the weights the checkpoint was selected for (its `state_dict`) into `model`;
    return the checkpoint as read (calibration writes its temperature into it).
    Not `trainer.test(ckpt_path=...)`: that also runs the callbacks' checkpoint hooks, and
    a WeightAveraging callback (EMAWeightAveraging) then swaps the raw training weights back in, so
    the test would score weights other than the averaged ones validation chose (measured:
    98.58 % raw against 98.51 % averaged for one EMA run, reported as the averaged)."""
    payload = read_checkpoint(Path(path), "train again: the run's best checkpoint is unreadable")
    model.load_state_dict(payload["state_dict"])
    return payload


# the numbers metrics.json holds for a finished run (what a sweep can optimise): the last
# epoch's metrics, the test's, the calibration's (tsr.training.temperature) and the timing
RESULT_METRICS = (
    *(m for m in EPOCH_METRICS if m not in ("train/lr", "train/loss")),
    *TEST_METRICS,
    "val/ece",
    "val/ece_scaled",
    "test/ece_scaled",
    "temperature",
    "seconds_per_epoch",
    "seconds_per_epoch_with_val",
)


def _typical_epoch(values: list[float]) -> float | None:
    """Median epoch time, first epoch excluded (worker start-up, one-off allocations);
    the median ignores epochs slowed by other work on the machine."""
    steady = values[1:] or values
    return statistics.median(steady) if steady else None


def train(
    cfg: DictConfig, callbacks: Sequence[L.Callback] = (), show_summary: bool = True
) -> dict[str, Any]:
    """Train and test one configuration; return its metrics (also in metrics.json).
    `callbacks` join the configured ones; `show_summary` prints the results table."""
    check_run_settings(cfg)  # seed, resume, ckpt_path: used before build() checks the rest
    resolve_precision(cfg.trainer)  # before resuming: runs record the precision they used
    point = resume_point(cfg)
    if point is None and cfg.get("resume"):
        done = find_finished_run(cfg)
        if done is not None:
            log.info(
                "resume=true: this configuration already finished in %s; its metrics stand "
                "(drop resume=true to train it again)",
                done,
            )
            if rank_zero_only.rank == 0:
                move_log_into(done, Path(cfg.paths.output_dir))
            return json.loads((done / FINISHED_MARKER).read_text())
        log.warning(
            "resume=true: no unfinished or finished run of this configuration under %s; "
            "starting a new run",
            cfg.paths.log_dir,
        )
    if point is None:
        refuse_to_overwrite(cfg)
    new_dir = Path(cfg.paths.output_dir)
    if point is not None:
        cfg = continue_in_place(cfg, point)
    L.seed_everything(cfg.seed, workers=True)
    # a resumed run goes on in its own TensorBoard folder; a new one claims one of its own
    fresh = point is None or point.run_dir is None
    claimed = _claim_log_folders(cfg) if fresh and rank_zero_only.rank == 0 else []
    try:
        datamodule, model, trainer = build(cfg, callbacks)
        problem = point and weights_problem(model.state_dict(), point)
        if problem:  # before the resumed run's folder gets a line of this session
            raise CheckpointError(problem)
    except BaseException:
        for folder in claimed:  # nothing logged yet: leave no empty run behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    if point is not None and point.run_dir is not None and rank_zero_only.rank == 0:
        move_log_into(point.run_dir, new_dir)
    output_dir = Path(cfg.paths.output_dir)
    if rank_zero_only.rank == 0:  # DDP: the launched processes do not write it again
        write_provenance(cfg, output_dir, resumed_from=point and point.checkpoint)
    if point is not None:
        log.info(
            "resuming %s from %s",
            point.run_dir or "in a new run folder",
            point.checkpoint,
        )
    cost = model.cost()
    log.info(
        "model %s (backbone %s%s): %s parameters, %s MACs per image (forward)",
        cfg.model.get("name") or cfg.model.backbone,
        cfg.model.backbone,
        " with a spatial transformer" if cfg.model.get("stn") else "",
        format_count(cost["parameters"]),
        format_count(cost["macs"]),
    )
    # weights_only: tsr's checkpoints hold tensors and plain values only; anything else is
    # refused instead of unpickled (tsr.inference.checkpoint explains why)
    trainer.fit(
        model,
        datamodule=datamodule,
        ckpt_path=point and str(point.checkpoint),
        weights_only=True,
    )
    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    checkpoint = trainer.checkpoint_callback
    best_path = getattr(checkpoint, "best_model_path", "") or None
    test_metrics: dict[str, float] = {}
    calibration: dict[str, float] = {}
    if cfg.get("test"):
        payload = _load_selected_weights(model, best_path) if best_path else None
        results = trainer.test(model, datamodule=datamodule)
        test_metrics = {k: float(v) for k, v in results[0].items()}
        if cfg.data.get("train_on_val"):
            log.info("temperature scaling skipped: data.train_on_val=true holds no image out")
        elif trainer.is_global_zero:  # the model now holds the best weights
            calibration = calibrate(model, datamodule, best_path, payload)

    timer = next((c for c in trainer.callbacks if isinstance(c, EpochTimer)), None)
    metrics = {
        "model": cfg.model.get("name") or cfg.model.backbone,  # the config's name, everywhere
        "backbone": cfg.model.backbone,
        "stn": bool(cfg.model.get("stn", False)),
        "preprocessing": cfg.data.preprocessing,
        "epochs": trainer.current_epoch,
        "precision": str(trainer.precision),
        "seed": cfg.seed,
        "val/acc_best": fit_metrics.get("val/acc_best"),
        "val/acc": fit_metrics.get("val/acc"),
        "val/loss": fit_metrics.get("val/loss"),
        "train/acc": fit_metrics.get("train/acc"),
        "test/acc": test_metrics.get("test/acc"),
        "test/loss": test_metrics.get("test/loss"),
        "test/ece": test_metrics.get("test/ece"),
        **calibration,
        "seconds_per_epoch": _typical_epoch(timer.train_seconds) if timer else None,
        "seconds_per_epoch_with_val": _typical_epoch(timer.epoch_seconds) if timer else None,
        "parameters": cost["parameters"],
        "macs": cost["macs"],
        "best_checkpoint": best_path,
    }
    log_hparams(trainer, cfg, metrics)
    if trainer.is_global_zero:
        write_json(output_dir / FINISHED_MARKER, metrics)
    if show_summary and trainer.is_global_zero:
        _print_summary(metrics, output_dir)
    return metrics


def _print_summary(metrics: dict[str, Any], output_dir: Path) -> None:
    table = Table(title=f"tsr: {metrics['model']} on {metrics['preprocessing']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    keys = ("val/acc_best", "test/acc", "test/loss", "epochs", "seconds_per_epoch", "precision")
    for key in keys:
        value = metrics[key]
        if value is None:
            continue
        if isinstance(value, str):
            text = value
        elif key.endswith("acc") or key.endswith("acc_best"):
            text = f"{value:.2%}"
        else:
            text = f"{value:.4g}"
        table.add_row(key, text)
    Console().print(table)
    log.info("metrics written to %s", output_dir / "metrics.json")
