"""`python -m tsr.train`: configs compose, a tiny run writes its results, bad values fail early."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version
from pathlib import Path

import lightning as L
import pytest
from omegaconf import OmegaConf

from tsr.errors import CheckpointError, ConfigError, TrainingDiverged
from tsr.models import EPOCH_METRICS
from tsr.training.precision import choose_precision
from tsr.training.run import RESULT_METRICS, build, train

from .conftest import CONF_DIR, compose_train, run_tsr


@pytest.mark.parametrize("model", sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml")))
@pytest.mark.parametrize("trainer", ["default", "cpu"])
def test_every_config_builds_without_touching_data(tmp_path: Path, model: str, trainer: str):
    cfg = compose_train(
        tmp_path, tmp_path / "data", tmp_path / "no-mirror", f"model={model}", f"trainer={trainer}"
    )
    datamodule, module, _ = build(cfg)
    assert module.hparams.in_channels == datamodule.in_channels
    assert module.hparams.stn is cfg.model.stn
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("preprocessing", "channels"), [("rgb", 3), ("clahe", 1)])
def test_stn_goes_before_any_model_and_channels_follow_the_data(
    tmp_path: Path, preprocessing, channels
):
    cfg = compose_train(
        tmp_path,
        tmp_path / "data",
        tmp_path / "no-mirror",
        "model=resnet",
        "model.stn=true",
        f"data.preprocessing={preprocessing}",
    )
    _, module, _ = build(cfg)
    assert type(module.stn).__name__ == "SpatialTransformer"
    assert module.backbone.features[0][0].in_channels == channels
    assert module.stn.localization[0].in_channels == channels


def test_callbacks_and_logger_can_be_switched_off(tmp_path: Path) -> None:
    cfg = compose_train(
        tmp_path, tmp_path / "data", tmp_path / "no-mirror", "callbacks=none", "logger=none"
    )
    _, _, trainer = build(cfg)
    assert trainer.logger is None
    assert not any(type(c).__name__ == "EpochTimer" for c in trainer.callbacks)


class _LoggedMetrics(L.Callback):
    """The metric names the fit logged (what ModelCheckpoint and pruning can watch)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def on_fit_end(self, trainer, pl_module) -> None:
        self.names = set(trainer.callback_metrics)


def test_tiny_run_writes_metrics_checkpoints_and_logs(tmp_path: Path, cache_dir, mirror):
    cfg = compose_train(
        tmp_path,
        cache_dir,
        mirror,
        "trainer.max_epochs=2",
        "debug=fast",
        "trainer.limit_train_batches=30",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=3",
        "data.preprocessing=gray",
        "data.jitter.enabled=false",
    )
    logged = _LoggedMetrics()
    metrics = train(cfg, callbacks=[logged])
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved == metrics
    # the names the checkpoint's monitor and a sweep's metric and pruning are checked against
    assert {n for n in logged.names if not n.startswith("time/")} == set(
        EPOCH_METRICS
    )  # EpochTimer's
    assert {key for key in saved if "/" in key or key.startswith(("temp", "seconds"))} == set(
        RESULT_METRICS
    )
    assert saved["model"] == "lenet" and saved["preprocessing"] == "gray" and saved["epochs"] == 2
    # above chance (1/43) after 60 steps, in either precision auto picks
    assert 0.05 < saved["test/acc"] <= 1 and 0 < saved["val/acc_best"] <= 1
    assert saved["seconds_per_epoch"] > 0
    assert saved["parameters"] == 103_311 and saved["macs"] == 458_012  # LeNet-5, gray
    # trainer.precision=auto, resolved for this machine and recorded where the run is read
    assert saved["precision"] == choose_precision("auto").precision
    # what reproduces the run: the resolved config, seed, code and package versions
    info = json.loads((tmp_path / "run" / "run_info.json").read_text())
    assert info["seed"] == 42 and info["packages"]["torch"] == version("torch")
    assert info["code"]["commit"] is None or len(info["code"]["commit"]) == 40
    config = OmegaConf.load(tmp_path / "run" / "config.yaml")
    assert config.data.preprocessing == "gray" and config.trainer.max_epochs == 2
    assert config.trainer.precision == saved["precision"]
    assert config.paths.output_dir == str(tmp_path / "run")  # resolved
    checkpoints = {p.name for p in (tmp_path / "run" / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints and Path(saved["best_checkpoint"]).name in checkpoints
    assert list((tmp_path / "logs" / "tb" / "lenet" / "gray").glob("*/events.out.tfevents*"))


@pytest.mark.slow  # measured > 5 s (Xeon, 2 cores)
def test_headline_command_runs_with_the_model_defaults(tmp_path: Path, cache_dir, mirror) -> None:
    """`python -m tsr.train model=multiscale` as a user types it (batches capped for time)."""
    result = run_tsr(
        "train",
        "model=multiscale",
        "trainer.max_epochs=1",
        "debug=fast",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        f"paths.data_dir={cache_dir}",
        f"data.mirror={mirror}",
        root=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cost = (
        "model multiscale (backbone multiscale with a spatial transformer): 1.12 M parameters, "
        "32.4 M MACs per image"
    )
    assert cost in result.stdout
    (metrics_file,) = (tmp_path / "logs" / "runs").glob("*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["model"] == "multiscale" and metrics["backbone"] == "multiscale"
    assert metrics["parameters"] == 1_124_807
    assert metrics["stn"] is True
    assert metrics["test/acc"] is not None


@pytest.mark.slow
def test_end_to_end_training_learns(tmp_path: Path, cache_dir: Path, mirror: Path) -> None:
    """A few hundred real steps from the command line: far above chance (1/43 = 2.3 %)."""
    result = run_tsr(
        "train",
        "data.preprocessing=gray",
        "data.jitter.enabled=false",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        f"paths.data_dir={cache_dir}",
        f"data.mirror={mirror}",
        root=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (metrics_file,) = (tmp_path / "logs" / "runs").glob("*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["test/acc"] > 0.75, metrics
    assert metrics["val/acc_best"] > 0.75, metrics
    assert "test/acc" in result.stdout


def test_the_final_retrain_tests_its_last_epoch(tmp_path: Path, cache_dir, mirror) -> None:
    """data.train_on_val=true with monitor=null: no checkpoint is chosen on the (now
    trained-on) validation images; the last epoch is tested and no temperature is fitted."""
    cfg = compose_train(
        tmp_path,
        cache_dir,
        mirror,
        "trainer.max_epochs=2",
        "debug=fast",
        "trainer.limit_train_batches=5",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "data.preprocessing=gray",
        "data.train_on_val=true",
        "callbacks.model_checkpoint.monitor=null",
        "logger=none",
    )
    metrics = train(cfg)
    assert Path(metrics["best_checkpoint"]).name.startswith("epoch001-")  # the last of 2
    assert "temperature" not in metrics and metrics["test/acc"] is not None


# three short epochs of 5 batches: what the time budget tests plan within
BUDGET_RUN = (
    "trainer.max_epochs=3",
    "debug=fast",
    "trainer.limit_train_batches=5",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "data.preprocessing=gray",
    "logger=none",
)


@pytest.mark.parametrize(
    ("minutes", "planned", "scheduler"),
    [
        pytest.param("0.001", 1, "cosine", marks=pytest.mark.slow),  # measured 9 s; 1 fits
        pytest.param("60", 3, "cosine", marks=pytest.mark.slow),  # all fit: nothing changes
        pytest.param("0.001", 1, "onecycle", marks=pytest.mark.slow),  # a per-step schedule
    ],
)
def test_a_time_budget_shortens_the_run_and_its_schedule(
    tmp_path: Path, cache_dir, mirror, minutes: str, planned: int, scheduler: str
) -> None:
    """callbacks.time_budget.minutes: the run stops after the epochs that fit, and its
    learning-rate schedule was rebuilt for that length, so it still ends annealed."""
    import torch

    schedules = {
        "cosine": [
            "+model.scheduler._target_=torch.optim.lr_scheduler.CosineAnnealingLR",
            "+model.scheduler._partial_=true",
            "+model.scheduler.T_max=null",
        ],
        "onecycle": [
            "+model.scheduler._target_=torch.optim.lr_scheduler.OneCycleLR",
            "+model.scheduler._partial_=true",
            "+model.scheduler.max_lr=0.002",
            "+model.scheduler.total_steps=null",
            "model.scheduler_interval=step",
        ],
    }
    cfg = compose_train(
        tmp_path,
        cache_dir,
        mirror,
        "model.scheduler=null",
        *schedules[scheduler],
        *BUDGET_RUN,
        f"callbacks.time_budget.minutes={minutes}",
    )
    metrics = train(cfg, show_summary=False)
    assert metrics["epochs"] == planned
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    state = next(v for k, v in last["callbacks"].items() if k.startswith("TimeBudget"))
    assert state["planned_epochs"] == planned
    schedule = last["lr_schedulers"][0]
    if scheduler == "cosine":
        assert schedule["T_max"] == planned
        assert last["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0, abs=1e-9)
    else:
        assert schedule["total_steps"] == 5 * planned
        assert schedule["last_epoch"] == 5 * planned


@pytest.mark.slow  # measured ~15 s: a run and its continuation
def test_a_resumed_run_keeps_the_length_its_budget_planned(tmp_path: Path, cache_dir, mirror):
    """The plan travels in the checkpoint: a run continued from its checkpoint (a copy out
    of its finished run's folder: ckpt_path) does not run the epochs the budget gave up."""
    overrides = [*BUDGET_RUN, "callbacks.time_budget.minutes=0.001"]
    first = train(compose_train(tmp_path, cache_dir, mirror, *overrides), show_summary=False)
    assert first["epochs"] == 1
    last = tmp_path / "last-copy.ckpt"
    shutil.copy(tmp_path / "run" / "checkpoints" / "last.ckpt", last)
    again = compose_train(
        tmp_path / "again",
        cache_dir,
        mirror,
        *overrides,
        f"ckpt_path={last}",
        "callbacks.time_budget.minutes=60",  # a new budget would allow all 3: the plan stands
    )
    assert train(again, show_summary=False)["epochs"] == 1


@pytest.mark.slow  # measured ~10 s: one short run
def test_a_checkpoint_is_refused_where_resuming_would_overwrite_or_not_fit(
    tmp_path: Path, cache_dir, mirror
) -> None:
    """ckpt_path= of a finished run's checkpoint would overwrite its metrics.json in place;
    a checkpoint of another network would fail to load after the data is read. Both are one
    error before anything is trained, and the finished run stays byte for byte."""
    overrides = [*BUDGET_RUN, "trainer.max_epochs=1", "model=lenet"]
    train(compose_train(tmp_path, cache_dir, mirror, *overrides), show_summary=False)
    run = tmp_path / "run"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    last = run / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError, match=r"a run that finished .* copy the checkpoint out"):
        train(compose_train(tmp_path / "b", cache_dir, mirror, *overrides, f"ckpt_path={last}"))
    copy = tmp_path / "lenet.ckpt"
    shutil.copy(last, copy)
    other = compose_train(
        tmp_path / "c", cache_dir, mirror, *overrides, "model=multiscale_small", f"ckpt_path={copy}"
    )
    with pytest.raises(CheckpointError, match="weights of another network than this config builds"):
        train(other, show_summary=False)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "c" / "run" / "metrics.json").exists()


def test_a_diverging_run_stops_with_a_clear_error(tmp_path: Path, cache_dir, mirror) -> None:
    """A learning rate far too high: the loss turns NaN/inf and the run names the fix."""
    cfg = compose_train(
        tmp_path,
        cache_dir,
        mirror,
        "trainer.max_epochs=3",
        "debug=fast",
        "trainer.limit_train_batches=10",
        "trainer.limit_val_batches=1",
        "data.preprocessing=gray",
        "model.optimizer._target_=torch.optim.SGD",
        "model.optimizer.lr=1e12",
        "logger=none",
    )
    with pytest.raises(
        TrainingDiverged, match=r"NaN or infinite in epoch 0: lower model.optimizer"
    ):
        train(cfg)


@pytest.mark.slow  # measured 10 s (two short runs, with two training runs beside it)
def test_a_collapsing_run_stops_with_a_clear_error(tmp_path: Path, cache_dir, mirror) -> None:
    """The loss stays finite but the net forgets what it learned (here Adam's rate grows
    1000-fold each epoch, as a one-cycle warm-up that peaks too high does): the
    run stops at the first validation far below its best and names the fix, instead of
    training on at chance."""
    collapsing = (
        "trainer.max_epochs=4",
        "debug=fast",
        "trainer.limit_train_batches=20",
        "data.preprocessing=gray",
        "model.optimizer.lr=1e-3",
        "model.scheduler={_target_:torch.optim.lr_scheduler.StepLR,_partial_:true,"
        "step_size:1,gamma:1000}",
        "model.scheduler_interval=epoch",
        "logger=none",
    )
    cfg = compose_train(
        tmp_path, cache_dir, mirror, *collapsing, "callbacks.divergence_guard.max_val_drop=0.05"
    )
    with pytest.raises(
        TrainingDiverged,
        match=r"collapsed: val/acc fell from .* \(epoch 0\) to .* in epoch [123], more than "
        r"callbacks.divergence_guard.max_val_drop=0.05 .* lower model.optimizer.lr",
    ):
        train(cfg)
    # with the check off the same run trains to its last epoch
    off = compose_train(
        tmp_path / "off",
        cache_dir,
        mirror,
        *collapsing,
        "callbacks.divergence_guard.max_val_drop=null",
    )
    assert train(off, show_summary=False)["epochs"] == 4


@pytest.mark.slow  # measured 11 s (two short runs, with CI running beside it)
def test_resume_skips_a_configuration_that_already_finished(tmp_path: Path, cache_dir, mirror):
    """A multirun continued with resume=true after a kill: the jobs that finished are not
    trained again (their metrics stand), so a report over the folder counts each once."""
    settings = (
        "model=lenet",
        "debug=fast",
        "trainer.max_epochs=1",
        "logger=none",
        "callbacks=minimal",
        "trainer.limit_train_batches=5",
        "trainer.limit_test_batches=2",
    )
    runs = tmp_path / "logs" / "runs"
    first = compose_train(tmp_path, cache_dir, mirror, *settings, f"paths.output_dir={runs / 'a'}")
    metrics = train(first, show_summary=False)
    again = compose_train(
        tmp_path, cache_dir, mirror, *settings, f"paths.output_dir={runs / 'b'}", "resume=true"
    )
    assert train(again, show_summary=False) == json.loads((runs / "a" / "metrics.json").read_text())
    assert metrics["test/acc"] is not None
    assert sorted(p.name for p in runs.iterdir()) == ["a"]  # no second run folder
    into_a = compose_train(tmp_path, cache_dir, mirror, *settings, f"paths.output_dir={runs / 'a'}")
    with pytest.raises(ConfigError, match=r"already holds a finished run .* another hydra.run.dir"):
        train(into_a, show_summary=False)  # a new run there would overwrite its results
    other = compose_train(
        tmp_path,
        cache_dir,
        mirror,
        *settings,
        f"paths.output_dir={runs / 'c'}",
        "resume=true",
        "seed=7",
    )
    train(other, show_summary=False)  # another seed is another configuration: it trains
    assert (runs / "c" / "metrics.json").is_file()


@pytest.mark.slow  # measured ~30 s (beside two trainings): one process' imports and one tiny job
def test_a_bad_value_in_one_multirun_job_is_one_line_and_the_others_run(
    tmp_path: Path, cache_dir, mirror
) -> None:
    """Job 0's data type is misspelt: it was Hydra's traceback of the job and exit 1; now its
    one error line, job 1 still trains, and the command exits 2 naming the failed job."""
    result = run_tsr(
        "train",
        "-m",
        "model=lenet",
        "debug=fast",
        "logger=none",
        "callbacks=minimal",
        f"paths.data_dir={cache_dir}",
        f"data.mirror={mirror}",
        "data.preprocessing=foo,gray",
        root=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output
    assert "unknown data.preprocessing='foo'; valid choices: rgb, gray" in output
    assert "1 job(s) of the multirun stopped on a bad value, each named above: #0 (" in output
    (finished,) = (tmp_path / "logs" / "multiruns").glob("*/1/metrics.json")
    assert json.loads(finished.read_text())["preprocessing"] == "gray"
