"""The top-level values of a training command that no constructor owns: the schema of
`seed`, `test`, `resume`, `ckpt_path` and the trainer's run length (the rest of `trainer`
is Lightning's, which checks its own arguments)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from tsr.config.schema import Settings, validate

Epochs = Annotated[int, Field(ge=-1)] | None


class RunSettings(Settings):
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 42
    test: bool = True  # score the best checkpoint on the official test set at the end
    resume: bool = False  # continue the newest unfinished run of this configuration
    ckpt_path: str | None = None  # continue from this checkpoint


class RunLength(Settings):
    """`trainer.max_epochs` and `trainer.max_steps` (-1: no limit)."""

    max_epochs: Epochs = None
    max_steps: Epochs = None


def check_run_settings(cfg: Any) -> RunSettings:
    """ConfigError for a bad top-level value, before anything is built or read."""
    values = {key: cfg.get(key) for key in ("seed", "test", "resume", "ckpt_path") if key in cfg}
    trainer = cfg.get("trainer") or {}
    length = {key: trainer[key] for key in ("max_epochs", "max_steps") if key in trainer}
    validate(RunLength, length, "trainer")
    return validate(RunSettings, values, "")
