"""What reproduces a run: its seed, the resolved config, the code version, the packages.

Written into the run folder before training starts (so a killed run has it too):
`config.yaml` (every value resolved, whatever composed it: `tsr.train`, a sweep trial or
a test) and `run_info.json` (seed, git commit and whether the tree had uncommitted
changes, command line, Python, platform, devices, package versions).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from tsr.io.atomic import write_json, write_text_atomic

PACKAGES = (
    "tsr",
    "torch",
    "torchvision",
    "lightning",
    "torchmetrics",
    "hydra-core",
    "omegaconf",
    "albumentations",
    "opencv-python-headless",
    "numpy",
    "optuna",
)
SOURCE_DIR = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(SOURCE_DIR), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def code_version() -> dict[str, Any]:
    """The git commit of tsr's source tree and whether it had uncommitted changes."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def devices() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def run_info(cfg: DictConfig) -> dict[str, Any]:
    return {
        "seed": cfg.get("seed"),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
        "code": code_version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "devices": devices(),
        "packages": package_versions(),
    }


def write_provenance(cfg: DictConfig, output_dir: Path, resumed_from: Path | None = None) -> None:
    """`config.yaml` and `run_info.json` in `output_dir`. A resumed run keeps both and
    adds when, how and from which checkpoint it was resumed to `run_info.json`."""
    info_path = output_dir / "run_info.json"
    if resumed_from is not None and info_path.exists():
        info = json.loads(info_path.read_text())
        resume = {key: value for key, value in run_info(cfg).items() if key != "seed"}
        info.setdefault("resumes", []).append({"checkpoint": str(resumed_from), **resume})
        write_json(info_path, info)
        return
    try:
        config = OmegaConf.to_yaml(cfg, resolve=True)
    except OmegaConfBaseException:  # an interpolation only Hydra's runtime can resolve
        config = OmegaConf.to_yaml(cfg)
    write_text_atomic(output_dir / "config.yaml", config)
    write_json(info_path, run_info(cfg))
