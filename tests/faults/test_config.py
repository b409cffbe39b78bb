"""Fault suite, configuration: every class of invalid value (unknown group option, unknown
choice, wrong type, out-of-range number, unknown key) fails before any data is touched,
naming the key and what would be valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException

from tsr.errors import ConfigError
from tsr.training.run import build
from tsr.training.settings import check_run_settings

from ..conftest import compose_train, run_tsr

BAD_VALUES = [
    # unknown choice of a value: the valid ones are named
    ("data.preprocessing=sepia", "valid choices: rgb, gray, sharpen, hist, clahe"),
    ("model.optimizer._target_=torch.optim.Adagradd", "'torch.optim.Adagradd' cannot be imported"),
    ("model.optimizer._target_=torch.nn.Linear", "is not a torch.optim.optimizer.Optimizer"),
    ("+model.optimizer.betas=[0.9]", "model.optimizer: Adam refused"),
    ("+model.optimizer.momentum=0.9", "Adam takes no option(s) momentum; valid: lr, betas"),
    ("model=resnet model.scheduler._target_=torch.optim.lr_scheduler.Warp", "cannot be imported"),
    (
        "model=lenet model.scheduler={_target_:torch.optim.lr_scheduler.StepLR,step_size:0}",
        "model.scheduler: StepLR refused",
    ),
    ("model.backbone=alexnet", "registered models: inception, lenet, lenet_classic"),
    ("data.jitter.border=mirror", "valid choices: "),
    ("model.backbone_options.activation=swish", "valid choices: "),
    ("trainer.accelerator=tpu2", "trainer: Trainer refused its settings: You selected an"),
    ("trainer.precision=17", "trainer: Trainer refused its settings: Precision 17 is invalid."),
    pytest.param(
        "trainer.accelerator=gpu",
        "trainer.accelerator=gpu, but this machine has no GPU (CUDA or Apple MPS): use "
        "trainer.accelerator=auto",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU"),
    ),
    pytest.param(
        "trainer.accelerator=cuda",
        "trainer.accelerator=cuda, but this machine has no CUDA GPU",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU"),
    ),
    ("trainer.accelerator=tpu", "trainer.accelerator=tpu, but this machine has no TPU (torch_xla)"),
    # wrong type
    ("data.batch_size=abc", "data.batch_size='abc' must be a whole number >= 1"),
    ("model.optimizer.lr=fast", "model.optimizer.lr='fast' must be a number > 0"),
    pytest.param(
        "trainer.max_epochs=ten",
        "trainer.max_epochs='ten' must be a whole number",
        marks=pytest.mark.slow,
    ),
    ("seed=abc", "seed='abc' must be a whole number"),
    ("data.jitter.enabled=maybe", "data.jitter.enabled='maybe' must be true or false"),
    ("model.stn=maybe", "model.stn='maybe' must be true or false"),
    ("model=multiscale model.backbone_options.stage1=wide", "stage1='wide' must be a whole"),
    ("resume=maybe", "resume='maybe' must be true or false"),
    # out of range
    ("data.min_per_class=-500", "min_per_class=-500"),
    ("data.val_fraction=1.5", "data.val_fraction=1.5 must be a number > 0 and < 1"),
    ("model.optimizer.lr=0", "lr=0"),
    ("model.backbone_options.dropout=2", "dropout=2"),
    ("trainer.max_epochs=-3", "trainer.max_epochs=-3 must be a whole number >= -1"),
    ("callbacks.recovery_checkpoint.every_n_train_steps=0", "must be a whole number >= 1"),
    ("model=multiscale data.image_size=12", "data.image_size=12 is too small for model"),
    ("model.optimizer.lr=nan", "model.optimizer.lr=nan must be a finite number"),
    ("model.optimizer.weight_decay=-1", "weight_decay=-1 must be a number >= 0"),
    ("seed=-1", "seed=-1 must be a whole number >= 0"),
    ("data.jitter.rotate_deg=nan", "data.jitter.rotate_deg=nan must be a number"),
    # inconsistent values, unknown keys
    ("model=resnet model.backbone_options.blocks=[2]", "same length"),
    ("+model.backbone_options.depth=3", "model.backbone_options: unknown key 'depth'; valid keys:"),
    ("+data.jitter.colour=1", "data.jitter: "),
    ("data.train_on_val=true", "add callbacks.model_checkpoint.monitor=null"),
    ("data.roi_crop=0.9", "data.roi_crop=0.9 must be a number >= 0 and <= 0.5 or null"),
    ("callbacks.time_budget.minutes=0", "callbacks.time_budget.minutes=0 must be a number"),
    ("callbacks.time_budget.minutes=15 trainer.max_epochs=-1", "trainer.max_epochs >= 1"),
    # a run with no end, one that trains nothing, a metric no epoch logs
    ("trainer.max_epochs=-1", "the run would never end; give trainer.max_epochs >= 1"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0 trains nothing"),
    ("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch=0 must be a whole"),
    ("callbacks.model_checkpoint.monitor=val/accc", "monitor='val/accc' is no metric a training"),
    # an archive's SHA-256 pin: a name split at its dot, a misspelt name
    # (it pinned nothing), a value that is no digest
    ("+data.sha256.GTSRB_Final_Test_GT.zip=abc", "Hydra split the archive's name at its dot"),
    ("+data.sha256={GTSRB_Final_Test.zip:abc}", "'GTSRB_Final_Test.zip', not a GTSRB archive"),
    ("+data.sha256={GTSRB_Final_Test_GT.zip:abc}", "is no SHA-256 (64 hex digits"),
    ("callbacks.divergence_guard.max_val_drop=0", "callbacks.divergence_guard.max_val_drop=0 must"),
    ("callbacks.divergence_guard.max_val_drop=30", "divergence_guard.max_val_drop=30 must be a"),
]


@pytest.mark.parametrize(("override", "message"), BAD_VALUES)
def test_bad_values_fail_before_data(tmp_path: Path, override: str, message: str) -> None:
    cfg = compose_train(tmp_path, tmp_path / "data", tmp_path / "no-mirror", *override.split())
    with pytest.raises(ConfigError, match=re.escape(message)) as raised:
        check_run_settings(cfg)  # what tsr.train checks first (resume before build)
        build(cfg)
    assert "\n" not in str(raised.value)  # one line (Hydra's wrapper had three)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("seed", ["-1", "1e99", "4294967296"])
def test_a_seed_out_of_range_is_refused_before_the_run_seeds_anything(
    tmp_path: Path, seed: str
) -> None:
    """train() seeds the generators before build() checks the config: a seed numpy cannot
    take ended in Lightning's ValueError and a traceback (found 2026-12-07)."""
    from tsr.training.run import train

    cfg = compose_train(tmp_path, tmp_path / "data", tmp_path / "no-mirror", f"seed={seed}")
    with pytest.raises(ConfigError, match=r"seed=.* must be a whole number >= 0 and <= 4294967295"):
        train(cfg)
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()


def test_unknown_key_is_refused_by_composition(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigCompositionException, match=re.escape("Could not override 'model.depth'")
    ):
        compose_train(tmp_path, tmp_path / "data", tmp_path / "no-mirror", "model.depth=3")


@pytest.mark.parametrize(
    ("command", "overrides", "message"),
    [
        ("train", ["model.optimizer.lrr=0.1"], "did you mean model.optimizer.lr?"),
        ("train", ["model=multiscale", "model.dropout=0.5"], "model.dropout is not a setting"),
        ("train", ["datta.batch_size=3"], "datta is not a setting (the top level has: callbacks"),
        ("train", ["data.jitter.rotaton=5"], "data.jitter has: affine,"),
        # two misspelt keys: the first is named (Hydra's "not in struct" before)
        ("train", ["optimizer.lr=1", "trainer.fast_dev_run=1"], "optimizer is not a setting"),
        ("train", ["model.dropout=0", "trainer.fast_dev_run=1"], "model.dropout is not a"),
        ("predict", ["topk=3"], "did you mean top_k?"),
        ("evaluate", ["splt=val"], "did you mean split?"),
        ("sweep", ["sweep.n_trail=3"], "did you mean sweep.n_trials?"),
        ("bench", ["bench.batchsize=3"], "did you mean bench.batch_size?"),
    ],
)
def test_an_unknown_key_is_named_with_the_keys_beside_it(command, overrides, message) -> None:
    from tsr.config.composition import unknown_key_problem
    from tsr.inference.settings import register_command_schemas

    register_command_schemas()
    problem = unknown_key_problem(command, overrides)
    assert problem is not None and message in problem, problem
    assert "docs/configuration.md" in problem


def test_a_new_key_of_a_mapping_names_the_plus_hydra_needs() -> None:
    """data.sha256={NAME.zip: sum} said "data.sha256 is not a setting ... did you mean
    data.sha256?": the key is there, its value adds keys, which Hydra takes only with +."""
    from tsr.config.composition import unknown_key_problem

    override = "data.sha256={GTSRB_Final_Test_GT.zip:abc}"
    problem = unknown_key_problem("train", [override])
    assert problem == (
        f"data.sha256 is a mapping, and {override} adds keys it does not hold yet: Hydra takes "
        f"that with a + in front: '+{override}'"
    )


@pytest.mark.parametrize(
    "overrides",
    [
        ["experiment=multiscale_final_roi_fstn", "callbacks.distillation.teachers=[a.ckpt]"],
        ["experiment=data_types", "data.preprocessing=rgb,gray"],  # a sweep: Hydra's to run
        ["+model.optimizer.momentum=0.9", "~model.scheduler", "hydra.run.dir=/tmp/x"],
    ],
)
def test_keys_that_exist_pass_the_check(overrides) -> None:
    from tsr.config.composition import unknown_key_problem

    assert unknown_key_problem("train", overrides) is None


@pytest.mark.parametrize(
    ("command", "override", "message"),
    [
        ("train", "model=alexnet", "conf/model/; choose one of: inception, lenet, lenet_classic"),
        ("train", "experiment=fastest", "conf/experiment/; choose one of: accuracy_ema,"),
        ("train", "model=lenet/x", "model=lenet/x: no such config in conf/model/;"),
        ("evaluate", "paths=nowhere", "paths=nowhere: no such config in conf/paths/; choose"),
    ],
)
def test_a_config_a_group_lacks_is_named_with_the_groups_configs(command, override, message):
    """Hydra alone: "Could not find 'model/alexnet'", the options one per line, its config
    search path, exit status 1; tsr says it in one line, every option on it."""
    from tsr.config.composition import unknown_key_problem

    problem = unknown_key_problem(command, [override])
    assert problem is not None and message in problem, problem
    assert "\n" not in problem


# one case runs in the fast tier; each is a ~6 s subprocess (Python, torch, Lightning start-up)
@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param(
            "model=alexnet",
            "no such config in conf/model/; choose one of: inception, lenet,",
            marks=pytest.mark.slow,
        ),  # unknown group option (Hydra: a dozen lines and its search path, exit status 1)
        ("data.preprocessing=sepia", "valid choices: rgb, gray, sharpen, hist, clahe"),
        pytest.param(
            "data.min_per_class=-1", "must be a whole number >= 0", marks=pytest.mark.slow
        ),
        pytest.param(
            "trainer.max_epochs=ten",
            "trainer.max_epochs='ten' must be a whole number",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "ckpt_path=/nowhere/last.ckpt",
            "ckpt_path=/nowhere/last.ckpt does not exist",
            marks=pytest.mark.slow,
        ),
        pytest.param(  # Hydra alone: "Key 'max_epoch' is not in struct", exit status 1
            "trainer.max_epoch=3", "did you mean trainer.max_epochs?", marks=pytest.mark.slow
        ),
    ],
)
def test_cli_reports_bad_values_without_traceback(tmp_path: Path, override: str, message: str):
    data = f"paths.data_dir={tmp_path / 'data'}"
    result = run_tsr("train", override, data, root=tmp_path, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output
    assert "Traceback" not in output
    assert not (tmp_path / "data").exists()
