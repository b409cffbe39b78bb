"""`python -m tsr.predict ckpt=<file.ckpt> inputs=[...]`: top-k classes per image
(tsr.inference.prediction); exit status 0, 1 when some inputs could not be read (one error
line each, the others answered), 2 with one error line when nothing could be done.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from tsr.cli import EXIT_PARTIAL, checks_command_line, silence_known_warnings, user_errors
from tsr.inference.prediction import predict
from tsr.inference.settings import register_command_schemas

log = logging.getLogger(__name__)
silence_known_warnings()
register_command_schemas()  # conf/predict.yaml's defaults


@checks_command_line("predict")
@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    with user_errors(log):
        result = predict(cfg)
    if result.failed:
        sys.exit(EXIT_PARTIAL)


if __name__ == "__main__":
    main()
