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
    if device.type not in _AVAILABLE:  # meta, hpu, ...: no place to compute a sign's class
        raise ConfigError(
            f"{key}={name!r} is no device tsr computes on; use {key}={fallback}, cpu or cuda"
        )
    if not _AVAILABLE[device.type]():
        raise ConfigError(
            f"{key}={name!r}, but this machine has no {device.type}; use {key}={fallback}"
        )
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise ConfigError(
                f"{key}={name!r}, but this machine has {count} CUDA device(s) (cuda:0 to "
                f"cuda:{count - 1}); use {key}={fallback}"
            )
    return device


# the device types tsr runs on, and whether this machine has one
_AVAILABLE = {
    "cpu": lambda: True,
    "cuda": torch.cuda.is_available,
    "mps": lambda: torch.backends.mps.is_available(),
    "xpu": lambda: hasattr(torch, "xpu") and torch.xpu.is_available(),
}
