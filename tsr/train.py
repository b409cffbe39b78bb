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


# multirun jobs that stopped on a bad value: the others still run, the command exits 2
FAILED_JOBS: list[str] = []


@checks_command_line("train")
@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def run_job(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except TsrError as exc:
        log.error("%s", exc)
        hydra_cfg = HydraConfig.get()
        if hydra_cfg.mode.name != "MULTIRUN":
            sys.exit(EXIT_USAGE)
        # one line, not Hydra's traceback of the job; the jobs after it still run
        FAILED_JOBS.append(f"#{hydra_cfg.job.num} ({' '.join(hydra_cfg.overrides.task)})")
    except SIGTERMException:  # last.ckpt was saved (tsr.training.checkpointing.RecoveryCheckpoint)
        sys.exit(128 + signal.SIGTERM)
    except (SystemExit, KeyboardInterrupt):
        if DeferredInterrupt.fired:  # Ctrl-C: last.ckpt saved; resume=true continues
            sys.exit(128 + signal.SIGINT)
        raise


def main() -> None:
    run_job()
    if FAILED_JOBS:
        log.error(
            "%d job(s) of the multirun stopped on a bad value, each named above: %s",
            len(FAILED_JOBS),
            "; ".join(FAILED_JOBS),
        )
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
