"""OmegaConf resolvers the configs use; registered when tsr.train is imported."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf


def run_id(stamp: str) -> str:
    """`stamp` (the launch time), plus `_<job number>` for each job of a multirun.

    Hydra resolves `${now:...}` once per launch, so without the job number every run
    of `python -m tsr.train -m ...` would get the same TensorBoard folder.
    """
    if HydraConfig.initialized():
        hydra = HydraConfig.get()
        if hydra.mode == RunMode.MULTIRUN:
            return f"{stamp}_{hydra.job.num}"
    return stamp


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", run_id)
