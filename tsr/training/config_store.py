"""Hand Hydra the schema's defaults, so the YAML files hold only what a recipe chooses.

`data/_defaults` is `tsr.data.settings.DataSettings`; `classifier/defaults` the model
config's keys from `SignClassifier`'s signature; `backbone/<name>` each registered
backbone's options as its signature declares them. `conf/data/gtsrb.yaml` and every
`conf/model/*.yaml` list these in their defaults, so every key exists (and can be set from
the command line) with the value the Python API uses too: `create_model("multiscale")` and
`model=multiscale` build the same network.
"""

from __future__ import annotations

import json

from tsr.config.schema import Settings, defaults, describe, store_defaults, to_plain
from tsr.data.settings import DataSettings
from tsr.models.module import classifier_settings
from tsr.models.registry import backbone_defaults, backbone_settings, list_models
from tsr.training.settings import RunLength, RunSettings

# the classifier's arguments a model config sets (the others come from the data module)
CLASSIFIER_KEYS = (
    "name",
    "backbone",
    "optimizer",
    "scheduler",
    "scheduler_interval",
    "label_smoothing",
    "channels_last",
    "stn",
)


def register_schemas() -> None:
    """Idempotent; call before composing a training config."""
    store_defaults("data", "_defaults", defaults(DataSettings))
    classifier = defaults(classifier_settings())
    store_defaults("classifier", "defaults", {k: classifier[k] for k in CLASSIFIER_KEYS})
    for name in list_models():
        store_defaults("backbone", name, backbone_defaults(name))


def _rows(model: type, prefix: str) -> list[str]:
    rows = []
    for key, field in model.model_fields.items():
        nested = field.annotation if isinstance(field.annotation, type) else None
        if nested is not None and issubclass(nested, Settings):
            rows += _rows(nested, f"{prefix}{key}.")
            continue
        default = field.get_default(call_default_factory=True)
        shown = "null" if default is None else json.dumps(to_plain(default))
        rows.append(f"| `{prefix}{key}` | `{shown}` | {describe(field)} |")
    return rows


def reference_markdown() -> str:
    """docs/configuration.md: every schema key with its default and what it accepts,
    generated from the schema (tests/test_schema.py keeps the file current)."""
    parts = [
        "# Configuration reference",
        "",
        "Generated from the schema by `python -m tsr.training.config_store > "
        "docs/configuration.md`; do not edit by hand. Each value is checked against this "
        "before any data is read; a bad one fails with one line naming the key and the "
        "valid range. Set any key on the command line (`data.batch_size=256`).",
        "",
        "## `data` (`tsr/data/settings.py`)",
        "",
        "| key | default | accepts |",
        "|---|---|---|",
        *_rows(DataSettings, "data."),
        "",
        "## `model` (`tsr/models/module.py`, `SignClassifier`)",
        "",
        "`model=<name>` picks a recipe from `conf/model/`; these are the classifier's keys. "
        "`optimizer` and `scheduler` are `_target_` nodes: any `torch.optim` class and any "
        "`torch.optim.lr_scheduler` class with its own arguments (`tsr/models/optim.py`); a "
        "null `T_max` or `total_steps` is the run's length.",
        "",
        "| key | default | accepts |",
        "|---|---|---|",
        *[
            r
            for r in _rows(classifier_settings(), "model.")
            if r.split("`")[1][6:] in CLASSIFIER_KEYS
        ],
        "",
        "## `model.backbone_options`, per backbone (`tsr/models/`)",
        "",
    ]
    for name in list_models():
        parts += [
            f"### `{name}`",
            "",
            "| key | default | accepts |",
            "|---|---|---|",
            *_rows(backbone_settings(name), "model.backbone_options."),
            "",
        ]
    parts += [
        "## Run settings (`tsr/training/settings.py`)",
        "",
        "| key | default | accepts |",
        "|---|---|---|",
        *_rows(RunSettings, ""),
        *_rows(RunLength, "trainer."),
        "",
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    print(reference_markdown(), end="")
