"""`python -m tsr.sweep`: real (tiny) trials on GTSRB, resume, failures, pruning, Ctrl-C,
and two workers sharing a PostgreSQL study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tsr.sweep import main
from tsr.sweeps.study import ERROR, INTERRUPTED, counts_toward_budget

from .conftest import REPO

# a trial: 2 epochs of 4 batches, validation on 2 batches
TINY = ["debug=fast", "trainer.max_epochs=2", "trainer.limit_val_batches=2"]


def sweep_args(tmp_path: Path, cache_dir: Path, mirror: Path, study: str, *extra: str) -> list:
    return [
        f"sweep.study_name={study}",
        f"paths.data_dir={cache_dir}",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"data.mirror={mirror}",
        *TINY,
        *extra,
    ]


def run_sweep(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return exit_info.value.code


def load(tmp_path: Path, study: str) -> optuna.Study:
    db = tmp_path / "logs" / "sweeps" / study / "study.db"
    return optuna.load_study(study_name=study, storage=f"sqlite:///{db}")


@pytest.mark.slow  # measured > 5 s (Xeon, 2 cores)
def test_sweep_runs_summarizes_and_continues(tmp_path: Path, cache_dir, mirror) -> None:
    args = sweep_args(tmp_path, cache_dir, mirror, "resume")
    assert run_sweep(*args, "sweep.n_trials=3") == 0
    sweep_dir = tmp_path / "logs" / "sweeps" / "resume"
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert summary["states"] == {"COMPLETE": 3}
    assert len(summary["top"]) == 3 and set(summary["importances"]) == {
        "lr",
        "dropout",
        "data_type",
        "min_per_class",
    }
    assert set(summary["by_choice"]) == {"data_type", "min_per_class"}
    assert sum(row["trials"] for row in summary["by_choice"]["data_type"]) == 3
    # trial 0 is the enqueued seed-writeup point
    first = load(tmp_path, "resume").trials[0]
    assert first.params == {
        "lr": 8.5e-4,
        "dropout": 0.33,
        "data_type": "rgb",
        "min_per_class": 3000,
    }
    study = load(tmp_path, "resume")
    assert study.metric_names == ["val/acc_best"]  # optuna-dashboard names the objective
    recorded = first.user_attrs["overrides"]
    keys = [o.split("=", 1)[0].lstrip("+~") for o in recorded]
    assert len(keys) == len(set(keys))  # each key once, with the value that took effect
    # every trial's TensorBoard run is named by its number and holds its hparams
    for number in range(3):
        run_dir = tmp_path / "logs" / "tb" / "sweeps" / "resume" / f"trial_{number:04d}"
        events = b"".join(p.read_bytes() for p in run_dir.glob("events.out.tfevents*"))
        assert b"hp/val_acc_best" in events and b"optimizer.lr" in events

    # the same command with a larger budget continues the study: nothing repeated
    assert run_sweep(*args, "sweep.n_trials=5") == 0
    trials = load(tmp_path, "resume").trials
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    points = {tuple(sorted(t.params.items())) for t in trials}
    assert len(points) == 5
    # at the budget already: runs nothing more
    assert run_sweep(*args, "sweep.n_trials=5") == 0
    assert len(load(tmp_path, "resume").trials) == 5

    # the best override file is a training command for the winner
    best = json.loads((sweep_dir / "summary.json").read_text())["best"]
    overrides = (sweep_dir / "best_overrides.txt").read_text().split()
    assert f"data.preprocessing={best['params']['data_type']}" in overrides
    assert f"model.optimizer.lr={best['params']['lr']!r}" in overrides
    from hydra import compose, initialize_config_dir

    from .conftest import CONF_DIR

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    assert cfg.data.min_per_class == best["params"]["min_per_class"]
    assert cfg.trainer.max_epochs == 2 and cfg.test is False


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path, cache_dir, mirror) -> None:
    args = sweep_args(
        tmp_path,
        cache_dir,
        mirror,
        "failing",
        "sweep.n_trials=2",
        "sweep.enqueue=[{dropout: 1.5}]",  # out of range: the model refuses it
    )
    assert run_sweep(*args) == 0
    trials = load(tmp_path, "failing").trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert "dropout=1.5 must be a number >= 0 and < 1" in trials[0].user_attrs[ERROR]
    assert all(counts_toward_budget(t) for t in trials)
    summary = json.loads((tmp_path / "logs/sweeps/failing/summary.json").read_text())
    assert summary["failed"][0]["number"] == 0
    assert summary["best"]["number"] == 1


def test_a_bad_slurm_array_index_is_named_as_the_environment_variable(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """sweep.worker's default reads SLURM_ARRAY_TASK_ID: the message named sweep.worker only."""
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "abc")
    args = sweep_args(tmp_path, tmp_path / "data", tmp_path / "no-mirror", "slurm")
    assert run_sweep(*args) == 2
    assert "SLURM_ARRAY_TASK_ID='abc' in the environment gives sweep.worker" in (
        capsys.readouterr().out
    )


def test_a_sweep_whose_every_trial_failed_exits_1(tmp_path, cache_dir, mirror, capsys) -> None:
    args = sweep_args(
        tmp_path,
        cache_dir,
        mirror,
        "all-failed",
        "sweep.n_trials=1",
        "sweep.enqueue=[{dropout: 1.5}]",
    )
    assert run_sweep(*args) == 1  # was 0: scripts took a sweep with no result for a success
    assert "no trial of study 'all-failed' finished: every one failed (the first:" in (
        capsys.readouterr().out
    )


@pytest.mark.real_data
def test_the_pruner_stops_a_bad_trial(tmp_path: Path, cache_dir, mirror) -> None:
    args = sweep_args(
        tmp_path,
        cache_dir,
        mirror,
        "pruning",
        "sweep.n_trials=2",
        "trainer.max_epochs=4",
        "++trainer.limit_train_batches=12",
        "data.preprocessing=gray",
        "sweep.params.dropout=null",
        "sweep.params.data_type=null",
        "sweep.params.min_per_class=null",
        "sweep.pruner.median.n_startup_trials=1",
        "sweep.pruner.median.n_warmup_steps=0",
        # a learning rate that trains, then one that cannot move the weights
        "sweep.enqueue=[{lr: 0.003}, {lr: 1.0e-9}]",
    )
    assert run_sweep(*args) == 0
    good, bad = load(tmp_path, "pruning").trials
    assert good.state == TrialState.COMPLETE and good.value > 0.1  # chance: 1/43
    assert bad.state == TrialState.PRUNED
    assert bad.user_attrs["epochs"] < 4
    assert max(bad.intermediate_values.values()) < good.intermediate_values[0]
    # in TensorBoard's HParams: the pruned trial says so, with the epochs it ran
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams import plugin_data_pb2

    tb = tmp_path / "logs" / "tb" / "sweeps" / "pruning"
    multiplexer = EventMultiplexer().AddRunsFromDirectory(str(tb))
    multiplexer.Reload()
    for trial, status in ((good, "complete"), (bad, "pruned")):
        content = multiplexer.PluginRunToTagToContent("hparams")[f"trial_{trial.number:04d}"]
        start = plugin_data_pb2.HParamsPluginData.FromString(
            content["_hparams_/session_start_info"]
        )
        hparams = start.session_start_info.hparams
        assert hparams["Status"].string_value == status
        assert hparams["Kind"].string_value == "sweep trial"
        assert hparams["Epochs"].number_value == trial.user_attrs["epochs"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sweep.params.lr.low=-1", "log-scale range needs low > 0"),
        ("sweep.pruner.name=oracle", "valid choices: median, hyperband, percentile, none"),
        ("+sweep.n_trails=3", "unknown sweep key(s) n_trails"),
        ("sweep.params.data_type.choices=[gray,sepia]", "valid choices: rgb, gray"),
        ("sweep.params.lr.path=model.optimiser.lr", "sweep.params"),
        ("sweep=nonexistent", "nonexistent"),
        # a misspelt metric: every trial trained, then failed; pruning was silently off
        ("sweep.metric=val/accuracy", "sweep.metric='val/accuracy' is no number a run's"),
        ("sweep.prune_on=val/accc", "sweep.prune_on='val/accc' is no metric a training epoch"),
    ],
)
def test_bad_sweep_configs_fail_before_any_trial(tmp_path: Path, override, message, capsys):
    args = sweep_args(tmp_path, tmp_path / "data", tmp_path / "no-mirror", "bad", override)
    assert run_sweep(*args) == 2
    assert message in capsys.readouterr().out
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "logs" / "sweeps" / "bad" / "study.db").exists()


def _sweep_cli(tmp_path: Path, *args: str, threads: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads:  # workers sharing a small machine: one thread each, no oversubscription
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.Popen(
        [sys.executable, "-m", "tsr.sweep", *args],
        # Ctrl-C reaches the sweep even when pytest runs in the background (where a
        # shell starts jobs with SIGINT ignored, and children inherit that)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_ctrl_c_leaves_a_consistent_study_that_continues(tmp_path, cache_dir, mirror) -> None:
    args = sweep_args(
        tmp_path,
        cache_dir,
        mirror,
        "interrupt",
        "sweep.n_trials=2",
        "sweep.enqueue=[]",
        "data.preprocessing=gray",
        "sweep.params.data_type=null",
        "sweep.params.min_per_class=null",
    )
    process = _sweep_cli(tmp_path, *args, "trainer.max_epochs=200")  # long: to interrupt
    output = ""
    deadline = time.monotonic() + 120
    for line in process.stdout:  # wait until trial 0 trains
        output += line
        if "trial 0 step 1 " in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    output += process.communicate(timeout=120)[0]
    assert process.returncode == 130, output[-3000:]
    assert "Traceback" not in output
    trials = load(tmp_path, "interrupt").trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[0].user_attrs[INTERRUPTED] is True
    assert trials[1].system_attrs["fixed_params"] == trials[0].params  # queued again
    assert not any(counts_toward_budget(t) for t in trials)

    # rerun (shorter trials): the interrupted point runs first, the budget is met exactly
    process = _sweep_cli(tmp_path, *args)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output[-3000:]
    trials = load(tmp_path, "interrupt").trials
    assert [t.state for t in trials[1:]] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert trials[1].params == trials[0].params
    assert sum(counts_toward_budget(t) for t in trials) == 2


@pytest.mark.slow
def test_two_workers_share_one_postgresql_study(tmp_path: Path, cache_dir, mirror) -> None:
    url = os.environ.get("TSR_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("TSR_REQUIRE_POSTGRES"):
            pytest.fail("TSR_REQUIRE_POSTGRES is set but TSR_TEST_POSTGRES_URL is not")
        pytest.skip("set TSR_TEST_POSTGRES_URL (.ci/postgres starts a server)")
    study_name = f"two-workers-{os.getpid()}-{time.time_ns()}"
    n_trials = 6
    args = sweep_args(
        tmp_path,
        cache_dir,
        mirror,
        study_name,
        f"sweep.storage={url}",
        f"sweep.n_trials={n_trials}",
        "sweep.enqueue=[]",
        "sweep.pruner.name=none",
        "data.preprocessing=gray",
        "sweep.params.data_type=null",
    )
    workers = [_sweep_cli(tmp_path, *args, f"sweep.worker={i}", threads=1) for i in range(2)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]
    # both took part, and together ran exactly the budget
    ran = [output.count("finished with value") for output in outputs]
    assert min(ran) >= 1 and sum(ran) == n_trials, ran
    study = optuna.load_study(study_name=study_name, storage=url)
    finished = [t for t in study.trials if counts_toward_budget(t)]
    assert len(finished) == n_trials
    assert all(t.state == TrialState.COMPLETE for t in finished)
    assert len({t.number for t in finished}) == n_trials
    assert len({tuple(sorted(t.params.items())) for t in finished}) == n_trials
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]


@pytest.mark.slow
def test_kill_9_leaves_no_trial_running_for_ever(tmp_path, cache_dir, mirror) -> None:
    """SIGKILL (no handler runs): the trial stays RUNNING in SQLite. The next start fails
    it at once (its process is gone) and queues its parameters, so the budget is met."""
    args = sweep_args(
        tmp_path,
        cache_dir,
        mirror,
        "killed",
        "sweep.n_trials=1",
        "sweep.enqueue=[]",
        "data.preprocessing=gray",
        "sweep.params.data_type=null",
        "sweep.params.min_per_class=null",
    )
    process = _sweep_cli(tmp_path, *args, "trainer.max_epochs=200")
    deadline = time.monotonic() + 120
    for line in process.stdout:
        if "trial 0 step 0 " in line or time.monotonic() > deadline:
            break
    process.kill()
    process.wait(timeout=60)
    assert [t.state for t in load(tmp_path, "killed").trials] == [TrialState.RUNNING]

    process = _sweep_cli(tmp_path, *args)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output[-3000:]
    assert "which is gone (killed?)" in output
    trials = load(tmp_path, "killed").trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].params == trials[0].params
    assert sum(counts_toward_budget(t) for t in trials) == 1
