"""Device names in configs (`device=`, `data.device=`, `trainer.accelerator=`) as torch
devices: the one place that decides what `auto` means and refuses CUDA where there is none."""

from __future__ import annotations

import torch

from tsr.errors import ConfigError


def resolve_device(name: str | None, key: str = "device", fallback: str = "auto") -> torch.device:
    """`auto` or None: CUDA when present, else CPU; `gpu` is `cuda`; else any torch device
    name. A name that is no device, or CUDA where there is none, is a ConfigError naming
    `key` and what to use instead (`fallback`)."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device("cuda" if name == "gpu" else name)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"{key}={name!r} is not a device; use {fallback}, cpu or cuda") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key}={name!r}, but CUDA is not available here; use {key}={fallback}")
    return device
