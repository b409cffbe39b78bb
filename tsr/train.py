"""Train one model: `python -m tsr.train [model=...] [data.preprocessing=...] [...]`.

Trains, tests the best checkpoint on the official test set, writes `metrics.json` to the
run directory (tsr.training.run); exit status 0, or 2 with one error line.
"""

from __future__ import annotations

import logging
import signal
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from tsr.cli import EXIT_USAGE, checks_command_line, silence_known_warnings
from tsr.config.resolvers import register_resolvers
from tsr.errors import TsrError
from tsr.training.interrupts import DeferredInterrupt
from tsr.training.run import train

log = logging.getLogger(__name__)
register_resolvers()
silence_known_warnings()


@checks_command_line("train")
@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except TsrError as exc:
        log.error("%s", exc)
        if HydraConfig.get().mode.name == "MULTIRUN":
            raise
        sys.exit(EXIT_USAGE)
    except SIGTERMException:  # last.ckpt was saved (tsr.training.checkpointing.RecoveryCheckpoint)
        sys.exit(128 + signal.SIGTERM)
    except (SystemExit, KeyboardInterrupt):
        if DeferredInterrupt.fired:  # Ctrl-C: last.ckpt saved; resume=true continues
            sys.exit(128 + signal.SIGINT)
        raise


if __name__ == "__main__":
    main()
