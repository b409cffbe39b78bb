"""`python -m tsr.export ckpt=<file.ckpt> [format=onnx|torchscript]`: the model with its
sidecar (tsr.inference.exporting); exit status 0, or 2 with one error line.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from tsr.cli import checks_command_line, silence_known_warnings, user_errors
from tsr.inference.exporting import export
from tsr.inference.settings import register_command_schemas

log = logging.getLogger(__name__)
silence_known_warnings()
register_command_schemas()  # conf/export.yaml's defaults


@checks_command_line("export")
@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    with user_errors(log):
        export(cfg)


if __name__ == "__main__":
    main()
