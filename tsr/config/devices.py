"""Device names in configs (`device=`, `data.device=`, `trainer.accelerator=`): the one
place that decides what `auto` means and whether this machine has the hardware a name asks
for (one table, `_AVAILABLE`, for torch's device names and Lightning's accelerator names)."""

from __future__ import annotations

from typing import Any

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


def check_accelerator(accelerator: Any) -> None:
    """ConfigError when `trainer.accelerator` asks for hardware this machine lacks (Lightning:
    "MisconfigurationException('No supported gpu backend found!')" inside Hydra's
    instantiation message). Unknown names are left to Lightning, which lists the valid ones."""
    need = _ACCELERATORS.get(accelerator.lower()) if isinstance(accelerator, str) else None
    if need is not None and not any(_AVAILABLE[kind]() for kind in need[1]):
        raise ConfigError(
            f"trainer.accelerator={accelerator}, but this machine has no {need[0]}: use "
            "trainer.accelerator=auto (a GPU where there is one, else the CPU) or cpu"
        )


def _tpu_available() -> bool:
    from lightning.pytorch.accelerators import XLAAccelerator  # Lightning only where asked

    return XLAAccelerator.is_available()


# the device types tsr runs on, and whether this machine has one
_AVAILABLE = {
    "cpu": lambda: True,
    "cuda": torch.cuda.is_available,
    "mps": lambda: torch.backends.mps.is_available(),
    "xpu": lambda: hasattr(torch, "xpu") and torch.xpu.is_available(),
    "tpu": _tpu_available,
}

# trainer.accelerator names that need hardware this machine may lack: what that is, and
# the device types that provide it (Lightning's `gpu` is CUDA or Apple MPS)
_ACCELERATORS = {
    "gpu": ("GPU (CUDA or Apple MPS)", ("cuda", "mps")),
    "cuda": ("CUDA GPU", ("cuda",)),
    "mps": ("Apple MPS GPU", ("mps",)),
    "tpu": ("TPU (torch_xla)", ("tpu",)),
}
