"""`python -m tsr.evaluate ckpt=<file.ckpt> [key=value ...]`: tsr.inference.evaluation on the
official test set (split=val: the run's validation tracks); exit status 0, or 2 with one
error line (tsr.cli).
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from tsr.cli import checks_command_line, silence_known_warnings, user_errors
from tsr.inference.evaluation import evaluate
from tsr.inference.settings import register_command_schemas

log = logging.getLogger(__name__)
silence_known_warnings()
register_command_schemas()  # conf/evaluate.yaml's defaults


@checks_command_line("evaluate")
@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with user_errors(log):
        evaluate(cfg)


if __name__ == "__main__":
    main()
