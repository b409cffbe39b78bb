"""Type checks for configuration values, so a wrong type fails at build time with the
key's name and the type it needs (not deep inside PyTorch, or after the data loaded)."""

from __future__ import annotations

import numbers
from typing import Any

from tsr.errors import ConfigError

# annotation (as written in the signature) -> (accepts, what to say)
_TYPES: dict[str, tuple[Any, str]] = {
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "float": (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool), "a number"),
    "str": (lambda v: isinstance(v, str), "a string"),
}


def check_type(key: str, value: Any, annotation: Any) -> None:
    """Raise ConfigError if `value` does not fit `annotation` ('int', 'float', 'bool',
    'str', optionally `| None`); other annotations are not checked here."""
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    options = [part.strip() for part in str(name).split("|")]
    if value is None and "None" in options:
        return
    known = [_TYPES[option] for option in options if option in _TYPES]
    if not known or any(accepts(value) for accepts, _ in known):
        return
    wanted = " or ".join(description for _, description in known)
    if "None" in options:
        wanted += " or null"
    raise ConfigError(f"{key}={value!r} must be {wanted}")


def check_run_settings(cfg: Any) -> None:
    """The top-level values of a training config that no constructor checks."""
    check_type("seed", cfg.get("seed"), "int")
    check_type("test", cfg.get("test"), "bool")
    check_type("resume", cfg.get("resume", False), "bool")
    check_type("ckpt_path", cfg.get("ckpt_path"), "str | None")
    trainer = cfg.get("trainer") or {}
    for key in ("max_epochs", "max_steps"):
        if key in trainer:
            check_type(f"trainer.{key}", trainer[key], "int | None")
            if trainer[key] is not None and trainer[key] < -1:
                raise ConfigError(f"trainer.{key}={trainer[key]} must be >= -1 (-1: no limit)")
