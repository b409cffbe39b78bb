"""The one schema: Hydra's defaults, the Python API's and the docs all come from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from tsr.config.schema import validate
from tsr.data import GtsrbDataModule
from tsr.data.settings import DataSettings
from tsr.errors import ConfigError
from tsr.models.registry import backbone_defaults, create_model, list_models
from tsr.training.config_store import reference_markdown

from .conftest import CONF_DIR, REPO

MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))


@pytest.fixture(scope="module")
def configs() -> dict[str, object]:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return {name: compose("train", overrides=[f"model={name}"]) for name in MODELS}


def test_reference_doc_is_generated_from_the_schema() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    fix = "python -m tsr.training.config_store > docs/configuration.md"
    assert text == reference_markdown(), f"docs/configuration.md is stale: {fix}"


def test_python_defaults_are_the_config_defaults(configs) -> None:
    data = configs["lenet"].data
    composed = {
        k: v for k, v in data.items() if k not in ("_target_", "data_dir", "mirror", "seed")
    }
    assert validate(DataSettings, composed, "data") == DataSettings()
    module = GtsrbDataModule()
    assert module.settings.preprocessing == data.preprocessing == "clahe"
    assert module.jitter.affine == data.jitter.affine


@pytest.mark.parametrize("name", MODELS)
def test_a_model_config_is_its_backbone_defaults_plus_what_it_lists(configs, name) -> None:
    model = configs[name].model
    options = dict(model.backbone_options)
    listed = {k: v for k, v in options.items() if backbone_defaults(model.backbone).get(k) != v}
    # the options a recipe changes are the only ones that differ from the backbone's defaults
    assert {**backbone_defaults(model.backbone), **listed} == options
    # and create_model with those options builds the network model=<name> builds
    net = create_model(model.backbone, 1, 43, **listed)
    same = create_model(model.backbone, 1, 43, **options)
    assert [p.shape for p in net.parameters()] == [p.shape for p in same.parameters()]


def test_create_model_multiscale_is_model_multiscale(configs) -> None:
    """The issue that started the schema: they used to differ (dropout, batch norm)."""
    assert dict(configs["multiscale"].model.backbone_options) == backbone_defaults("multiscale")
    assert set(list_models()) <= {c.model.backbone for c in configs.values()}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "data.batch_size=0 must be a whole number >= 1"),
        ({"jitter": {"rotate_deg": float("nan")}}, "data.jitter.rotate_deg=nan must be a number"),
        ({"jitter": {"scale": [1.2, 0.9]}}, "must be [low, high] with 0 < low <= high"),
        ({"preprocessing": "sepia"}, "valid choices: rgb, gray, sharpen, hist, clahe"),
        ({"data_dir": 5}, "data.data_dir=5 must be a path"),
    ],
)
def test_messages_name_key_value_and_range(options, message) -> None:
    with pytest.raises(ConfigError) as error:
        GtsrbDataModule(**options)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_optimizer_and_scheduler_are_any_torch_classes(tmp_path: Path) -> None:
    from tsr.models import SignClassifier

    model = SignClassifier(
        optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1, "momentum": 0.9},
        scheduler={
            "_target_": "torch.optim.lr_scheduler.OneCycleLR",
            "max_lr": 0.1,
            "total_steps": None,
        },
        scheduler_interval="step",
    )
    assert model.optimizer_config["_target_"] == "torch.optim.SGD"
    for bad, message in [
        (
            {"_target_": "torch.optim.SGD", "lr": float("inf")},
            "model.optimizer.lr=inf must be a finite",
        ),
        (
            {"_target_": "torch.optim.SGD", "lr": 0.1, "weight_decay": -1},
            "weight_decay=-1 must be a number >= 0",
        ),
        (
            {"_target_": "torch.optim.Adam", "lr": 0.1, "nesterov": True},
            "Adam takes no option(s) nesterov",
        ),
    ]:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            SignClassifier(optimizer=bad)
