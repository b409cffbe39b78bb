"""A training run killed (SIGKILL), preempted (SIGTERM) or killed while writing a
checkpoint comes back with one command and loses at most the steps since its last
checkpoint. Every case runs the real CLI on the real data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ..conftest import REPO
from .helpers import logged_steps

pytestmark = pytest.mark.slow

EPOCHS = 3
BATCHES = 40  # training batches per epoch
STEPS = EPOCHS * BATCHES
EVERY = 10  # callbacks.recovery_checkpoint.every_n_train_steps


def _command(root: Path, cache_dir: Path, mirror: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tsr.train",
        "model=lenet",
        "data.preprocessing=gray",
        "model.optimizer.lr=3e-3",  # far enough in 120 steps for accuracies to compare
        f"trainer.max_epochs={EPOCHS}",
        f"trainer.limit_train_batches={BATCHES}",
        "debug=fast",
        "trainer.limit_val_batches=1.0",  # the whole validation split
        "trainer.limit_test_batches=20",
        "callbacks=minimal",
        "trainer.enable_progress_bar=false",
        f"callbacks.recovery_checkpoint.every_n_train_steps={EVERY}",
        "+callbacks.step_log._target_=tests.faults.helpers.StepLog",
        f"+callbacks.step_log.path={root / 'steps.txt'}",
        "+callbacks.step_log.sleep_s=0.05",
        f"paths.data_dir={cache_dir}",
        f"data.mirror={mirror}",
        *extra,
    ]


def _start(root: Path, command: list[str]) -> subprocess.Popen:
    root.mkdir(parents=True, exist_ok=True)
    log = (root / "output.txt").open("a")
    return subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, "TSR_ROOT": str(root)},
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _run(root: Path, command: list[str]) -> int:
    return _start(root, command).wait(timeout=600)


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"training ended (exit {process.returncode}) before the test could act")
        time.sleep(0.02)
    process.kill()
    pytest.fail("timed out waiting for training progress")


def _only_run(root: Path) -> Path:
    runs = sorted((root / "logs" / "runs").iterdir())
    assert len(runs) == 1, f"expected one run folder with results, found {runs}"
    return runs[0]


def _checkpoint_step(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["global_step"]


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def _tensorboard_steps(root: Path, tag: str = "train/loss") -> tuple[int, list[int]]:
    """(number of TensorBoard runs, steps of `tag` across their event files)."""
    versions = [p for p in (root / "logs" / "tb").glob("*/*/*") if p.is_dir()]
    steps: list[int] = []
    for version in versions:
        accumulator = EventAccumulator(str(version), size_guidance={"scalars": 0}).Reload()
        if tag in accumulator.Tags()["scalars"]:
            steps += [event.step for event in accumulator.Scalars(tag)]
    return len(versions), sorted(steps)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, mirror: Path):
    """The same command, never interrupted: the reference for the resumed runs."""
    root = tmp_path_factory.mktemp("uninterrupted")
    assert _run(root, _command(root, cache_dir, mirror)) == 0, (root / "output.txt").read_text()
    return _metrics(_only_run(root))


def test_sigkill_mid_epoch_then_resume(tmp_path: Path, cache_dir, mirror, uninterrupted) -> None:
    command = _command(tmp_path, cache_dir, mirror)
    steps_file = tmp_path / "steps.txt"
    process = _start(tmp_path, command)
    kill_after = BATCHES + EVERY + EVERY // 2  # in the second epoch, between two checkpoints
    _wait_for(lambda: len(logged_steps(steps_file)) >= kill_after, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before_kill = logged_steps(steps_file)[-1][1]
    run = _only_run(tmp_path)
    assert not (run / "metrics.json").exists()
    saved_step = _checkpoint_step(run / "checkpoints" / "last.ckpt")
    lost = done_before_kill - saved_step
    assert 0 <= lost < EVERY, f"{lost} steps lost (checkpoint every {EVERY})"

    assert _run(tmp_path, [*command, "resume=true"]) == 0, (tmp_path / "output.txt").read_text()

    assert _only_run(tmp_path) == run  # continued in place, no second result folder
    metrics = _metrics(run)
    assert metrics["epochs"] == EPOCHS
    resumed = [step for _, step in logged_steps(steps_file)]
    after_kill = resumed[resumed.index(done_before_kill) + 1 :]
    assert after_kill == list(range(saved_step + 1, STEPS + 1))  # redoes exactly the lost steps
    tb_runs, tb_steps = _tensorboard_steps(tmp_path)
    assert tb_runs == 1 and max(tb_steps) >= STEPS - EVERY  # curves continue in the same run
    info = json.loads((run / "run_info.json").read_text())
    assert info["resumes"][0]["checkpoint"].endswith("last.ckpt")
    # the resumed epoch sees a differently shuffled remainder, so equal within noise only
    assert metrics["val/acc_best"] == pytest.approx(uninterrupted["val/acc_best"], abs=0.05)
    assert metrics["test/acc"] == pytest.approx(uninterrupted["test/acc"], abs=0.05)
    print(
        f"\nSIGKILL at step {done_before_kill}, last.ckpt at step {saved_step}: {lost} steps "
        f"lost; val/acc_best {metrics['val/acc_best']:.4f} resumed vs "
        f"{uninterrupted['val/acc_best']:.4f} uninterrupted"
    )


@pytest.mark.parametrize("fixed_dir", [False, True], ids=["dated-folder", "hydra.run.dir"])
def test_sigterm_saves_a_checkpoint_then_resumes(
    tmp_path: Path, cache_dir, mirror, fixed_dir: bool
) -> None:
    """With a fixed hydra.run.dir too: resume=true finds the run in that folder, and the
    command without resume=true is refused instead of overwriting its checkpoints."""
    where = [f"hydra.run.dir={tmp_path / 'mine'}"] if fixed_dir else []
    command = _command(tmp_path, cache_dir, mirror, *where)
    steps_file = tmp_path / "steps.txt"
    process = _start(tmp_path, command)
    _wait_for(lambda: len(logged_steps(steps_file)) >= EVERY + 3, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    run = tmp_path / "mine" if fixed_dir else _only_run(tmp_path)
    done = logged_steps(steps_file)[-1][1]
    assert _checkpoint_step(run / "checkpoints" / "last.ckpt") == done  # nothing lost
    output = (tmp_path / "output.txt").read_text()
    assert "SIGTERM received: saved" in output and "resume=true" in output

    if fixed_dir:  # the same command again, without resume=true: refused, nothing touched
        refused = subprocess.run(
            command,
            cwd=REPO,
            env={**os.environ, "TSR_ROOT": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        said = refused.stdout + refused.stderr
        assert refused.returncode != 0
        assert "already holds an unfinished run" in said
        assert "resume=true" in said and "Traceback" not in said
        assert _checkpoint_step(run / "checkpoints" / "last.ckpt") == done

    assert _run(tmp_path, [*command, "resume=true"]) == 0, (tmp_path / "output.txt").read_text()
    assert _metrics(run)["epochs"] == EPOCHS
    steps = [step for _, step in logged_steps(steps_file)]
    assert steps == list(range(1, STEPS + 1))  # every step once: the SIGTERM lost none
    if fixed_dir:
        assert not (tmp_path / "logs" / "runs").exists() or not any(
            (tmp_path / "logs" / "runs").iterdir()
        )  # continued in the fixed folder, no second run folder


def test_sigkill_while_writing_a_checkpoint(tmp_path: Path, cache_dir, mirror) -> None:
    """The kill lands inside the atomic writer: last.ckpt stays the previous, loadable one;
    resuming from it (explicit ckpt_path) clears the partial file and finishes."""
    slow_writer = (
        "trainer.plugins=[{_target_:tests.faults.helpers.SlowCheckpointIO,"
        "slow_save:2,chunk_bytes:16384,pause_s:0.05}]"
    )
    command = _command(tmp_path, cache_dir, mirror)
    process = _start(tmp_path, [*command, slow_writer])
    checkpoints = tmp_path / "logs" / "runs"

    def writing_second_checkpoint() -> bool:
        return any(checkpoints.glob("*/checkpoints/last.ckpt")) and any(
            checkpoints.glob("*/checkpoints/.last.ckpt.*.tmp")
        )

    _wait_for(writing_second_checkpoint, process)
    time.sleep(0.1)  # some chunks in
    process.send_signal(signal.SIGKILL)
    process.wait()
    run = _only_run(tmp_path)
    partial = list((run / "checkpoints").glob(".last.ckpt.*.tmp"))
    assert partial and partial[0].stat().st_size > 0  # killed mid-write
    assert _checkpoint_step(run / "checkpoints" / "last.ckpt") == EVERY  # the previous one

    last = run / "checkpoints" / "last.ckpt"
    assert _run(tmp_path, [*command, slow_writer, f"ckpt_path={last}"]) == 0, (
        tmp_path / "output.txt"
    ).read_text()
    assert _metrics(run)["epochs"] == EPOCHS
    assert not list((run / "checkpoints").glob(".*.tmp"))
