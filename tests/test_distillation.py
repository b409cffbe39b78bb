"""Distillation (`callbacks.distillation.teachers=[...]`): a student learns the teachers'
answers, teachers that saw other inputs are refused before any image is read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tsr.errors import ConfigError
from tsr.inference.evaluation import evaluate
from tsr.reporting.comparison import PREDICTIONS_FILE
from tsr.training.run import build

from .conftest import TINY_DATA_TYPE, compose_train, train_tiny
from .test_evaluate import compose_evaluate


def _test_predictions(
    tmp_path: Path, cache_dir: Path, mirror: Path, ckpt: Path
) -> tuple[np.ndarray, np.ndarray]:
    """The checkpoint's predicted class for each official test image, and the labels."""
    evaluate(compose_evaluate(tmp_path, cache_dir, mirror, f"ckpt={ckpt}", "mistakes=0"))
    with np.load(tmp_path / "out" / PREDICTIONS_FILE) as data:
        return data["probabilities"].argmax(axis=1), data["labels"]


@pytest.mark.slow  # measured 15 s alone in CI (83 s beside a training run): 3 runs, 3 evaluations
def test_a_student_learns_its_teachers_answers(tmp_path: Path, cache_dir: Path, mirror: Path):
    """With weight 1 the labels play no part: the student learns the teacher's answers,
    its mistakes included. On the test images the teacher gets wrong, a student distilled
    from it gives the teacher's wrong class far more often than the same student trained on
    the labels (measured: 42 % against 23 %), and it still classifies well above chance
    (the task learnt from the teacher alone). Were the teacher not wired in, both students
    would be one run."""
    fast = ("model.optimizer.lr=3e-3", "trainer.max_epochs=3")  # 120 batches: ~78 % test acc
    taught = train_tiny(tmp_path / "teacher", cache_dir, mirror, *fast)
    teacher = taught["checkpoint"]
    student = (*fast, "seed=7", "callbacks.distillation.temperature=2")
    plain = train_tiny(tmp_path / "plain", cache_dir, mirror, *student)
    distilled = train_tiny(
        tmp_path / "distilled",
        cache_dir,
        mirror,
        *student,
        f"callbacks.distillation.teachers=[{teacher}]",
        "callbacks.distillation.weight=1.0",
    )
    said, labels = {}, None
    for name, ckpt in [
        ("teacher", teacher),
        ("plain", plain["checkpoint"]),
        ("distilled", distilled["checkpoint"]),
    ]:
        said[name], labels = _test_predictions(tmp_path / name, cache_dir, mirror, ckpt)
    mistakes = said["teacher"] != labels
    repeated = {
        name: float(np.mean(said[name][mistakes] == said["teacher"][mistakes]))
        for name in ("plain", "distilled")
    }
    print(
        f"\nof the teacher's {mistakes.sum()} test mistakes, repeated by the distilled student: "
        f"{repeated['distilled']:.3f}, by the plain one: {repeated['plain']:.3f}; test acc "
        f"teacher {taught['test/acc']:.3f}, distilled {distilled['test/acc']:.3f}, plain "
        f"{plain['test/acc']:.3f}"
    )
    assert repeated["distilled"] > repeated["plain"] + 0.1
    assert distilled["test/acc"] > 0.5 * taught["test/acc"] > 5 / 43


def test_a_teacher_of_other_inputs_is_refused_before_any_image(
    tmp_path: Path, cache_dir: Path, mirror: Path, tiny_run: dict, roi_run: dict
):
    never_read = tmp_path / "no-data"
    cases = [
        (
            tiny_run,
            "data.preprocessing=gray",
            "data.preprocessing: teacher 'clahe', this run 'gray'",
        ),
        (
            roi_run,
            f"data.preprocessing={TINY_DATA_TYPE}",
            "data.roi_crop: teacher 0.05, this run None",
        ),
    ]
    for run, data_setting, message in cases:
        cfg = compose_train(
            tmp_path,
            never_read,
            tmp_path / "no-mirror",
            data_setting,
            f"callbacks.distillation.teachers=[{run['checkpoint']}]",
        )
        with pytest.raises(ConfigError, match="was trained on other inputs") as error:
            build(cfg)
        assert message in str(error.value) and "pick teachers trained with" in str(error.value)
    assert not never_read.exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("callbacks.distillation.weight=0", r"callbacks.distillation.weight"),
        ("callbacks.distillation.weight=1.5", r"callbacks.distillation.weight"),
        ("callbacks.distillation.temperature=-1", r"callbacks.distillation.temperature"),
        ("callbacks.distillation.teachers=[nowhere.ckpt]", r"ckpt=nowhere.ckpt does not exist"),
        ("callbacks.distillation.teachers=['']", r"teachers holds an empty path"),
        ("experiment=fast_cpu_distilled_roi", r"teachers is not set: .* list its checkpoints"),
    ],
)
def test_bad_distillation_settings_fail_before_any_image(tmp_path: Path, override, message):
    cfg = compose_train(tmp_path, tmp_path / "no-data", tmp_path / "no-mirror", override)
    with pytest.raises(ConfigError, match=message):
        build(cfg)
    assert not (tmp_path / "no-data").exists()


@pytest.mark.parametrize(
    ("recipe", "measured"),
    [
        # experiments/accuracy/README.md, section 8
        (
            "fast_cpu_distilled_roi",
            ["experiment=fast_cpu_final_roi", "callbacks.time_budget.minutes=null"],
        ),
        # section 16's final retrain
        (
            "multiscale_final_roi_fstn_distilled",
            [
                "experiment=multiscale_final_roi_fstn",
                "callbacks.recovery_checkpoint.every_n_train_steps=100",
            ],
        ),
    ],
)
def test_a_distilled_recipe_is_the_command_that_was_measured(
    tmp_path: Path, cache_dir: Path, mirror: Path, recipe: str, measured: list[str]
):
    """The recipe file, given its teachers, composes to the same run configuration as the
    command line whose test accuracy experiments/accuracy/README.md records for it."""
    teachers = "callbacks.distillation.teachers=[a.ckpt,b.ckpt,c.ckpt]"
    from_file = compose_train(tmp_path, cache_dir, mirror, f"experiment={recipe}", teachers)
    as_run = compose_train(tmp_path, cache_dir, mirror, *measured, teachers)
    assert from_file == as_run
