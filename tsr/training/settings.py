"""The top-level values of a training command that no constructor owns: the schema of
`seed`, `test`, `resume`, `ckpt_path` and the trainer's run length, checked with whether the
machine has the hardware `trainer.accelerator` names (tsr.config.devices; the rest of
`trainer` is Lightning's, which checks its own arguments)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from tsr.config.devices import check_accelerator
from tsr.config.schema import Settings, validate

Epochs = Annotated[int, Field(ge=-1)] | None


class RunSettings(Settings):
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 42
    test: bool = True  # score the best checkpoint on the official test set at the end
    resume: bool = False  # continue the newest unfinished run of this configuration
    ckpt_path: str | None = None  # continue from this checkpoint


class RunLength(Settings):
    """`trainer.max_epochs` and `trainer.max_steps` (-1: no limit, for one of them; 0 would
    test an untrained net and record it as a result) and how often validation runs."""

    max_epochs: Epochs = None
    max_steps: Epochs = None
    check_val_every_n_epoch: Annotated[int, Field(ge=1)] | None = 1

    @model_validator(mode="after")
    def _has_an_end(self) -> RunLength:
        for key in ("max_epochs", "max_steps"):
            if getattr(self, key) == 0:
                raise ValueError(
                    f"trainer.{key}=0 trains nothing (the test would score an untrained net): "
                    f"give trainer.{key} >= 1"
                )
        if self.max_epochs == -1 and self.max_steps in (None, -1):
            raise ValueError(
                "trainer.max_epochs=-1 (no limit) with no trainer.max_steps: the run would "
                "never end; give trainer.max_epochs >= 1 or trainer.max_steps >= 1"
            )
        return self


def check_run_settings(cfg: Any) -> RunSettings:
    """ConfigError for a bad top-level value or trainer length or accelerator, before
    anything is built or read."""
    values = {key: cfg.get(key) for key in ("seed", "test", "resume", "ckpt_path") if key in cfg}
    trainer = cfg.get("trainer") or {}
    length = {
        key: trainer[key]
        for key in ("max_epochs", "max_steps", "check_val_every_n_epoch")
        if key in trainer
    }
    validate(RunLength, length, "trainer")
    check_accelerator(trainer.get("accelerator"))
    return validate(RunSettings, values, "")
