"""Every recipe in conf/experiment/ composes and builds (data module, model, trainer and
callbacks, each value checked against the schema) for every value its sweep lists, without
reading data: a recipe that the experiments/ READMEs cite cannot rot unnoticed."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from tsr.training.run import build

from .conftest import CONF_DIR, compose_train

README = CONF_DIR.parent / "README.md"
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def _sweep(name: str) -> list[list[str]]:
    """The overrides of each job of the experiment's multirun (seeds: the first only)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={name}"], return_hydra_config=True)
    params = dict(cfg.hydra.sweeper.params or {})
    axes = [
        [f"{key}={value}" for value in str(values).split(",")][: 1 if key == "seed" else None]
        for key, values in params.items()
    ]
    return [list(job) for job in itertools.product(*axes)] or [[]]


def _given(name: str, request: pytest.FixtureRequest) -> list[str]:
    """What a recipe leaves to the command line: a distilled recipe's teachers (a run of the
    fixtures on ROI crops, whose inputs match the fast ROI recipes')."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={name}"])
    if cfg.callbacks.distillation.teachers is not None:
        return []
    teacher = request.getfixturevalue("roi_run")["checkpoint"]
    return [f"callbacks.distillation.teachers=[{teacher}]"]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_job_of_a_recipe_builds(
    name: str, tmp_path: Path, cache_dir: Path, mirror: Path, request: pytest.FixtureRequest
) -> None:
    given = _given(name, request)
    for job in _sweep(name):
        cfg = compose_train(
            tmp_path, cache_dir, mirror, f"experiment={name}", *job, *given, "logger=none"
        )
        _, model, trainer = build(cfg)
        assert model.hparams.name == cfg.model.name, job
        assert trainer.max_epochs == cfg.trainer.max_epochs


def _readme_examples() -> list[str]:
    """README's optimiser and schedule examples: each backticked span of overrides that sets
    `model.optimizer` or `model.scheduler`."""
    spans = re.findall(r"`([^`]*model\.(?:optimizer|scheduler)[^`]*=[^`]*)`", README.read_text())
    assert spans, "README gives no optimiser or schedule example"
    return spans


@pytest.mark.parametrize("example", _readme_examples())
def test_readme_optimiser_examples_build(
    example: str, tmp_path: Path, cache_dir: Path, mirror: Path
) -> None:
    """What README says works without code composes and builds (the schedule tried on a
    stand-in), so a user copying it gets a run, not a Hydra error."""
    cfg = compose_train(
        tmp_path, cache_dir, mirror, "model=multiscale", *example.split(), "logger=none"
    )
    build(cfg)
    chosen = {cfg.model.optimizer._target_, (cfg.model.scheduler or {}).get("_target_")}
    for target in re.findall(r"_target_[=:]([\w.]+)", example):
        assert target in chosen, (example, chosen)


@pytest.mark.parametrize(
    ("recipe", "measured"),
    [
        # experiments/framing (its runs set time_budget.minutes=null; all 15 epochs fit the
        # recipe's 13-minute budget, as the timed run of the recipe file shows)
        ("fast_cpu_final_roi_framing", ["experiment=fast_cpu_final_roi"]),
        # experiments/accuracy/README.md, section 22
        (
            "multiscale_final_roi_fstn_framing",
            [
                "experiment=multiscale_final_roi_fstn",
                "callbacks.recovery_checkpoint.every_n_train_steps=100",
            ],
        ),
    ],
)
def test_a_framing_recipe_is_the_command_that_was_measured(
    tmp_path: Path, cache_dir: Path, mirror: Path, recipe: str, measured: list[str]
) -> None:
    """The recipe files written after their runs compose to the same run configuration as
    the command lines whose results the experiments record."""
    from_file = compose_train(tmp_path, cache_dir, mirror, f"experiment={recipe}")
    as_run = compose_train(
        tmp_path, cache_dir, mirror, *measured, "data.jitter.roi_margin=[0.0,0.3]"
    )
    assert from_file == as_run
