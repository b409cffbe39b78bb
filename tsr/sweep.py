"""`python -m tsr.sweep [sweep=<name>] [sweep.key=value ...] [training overrides ...]
[summary]`: an Optuna study over the training config (tsr.sweeps.runner has the usage);
exit status 0, 1 when every trial of the study failed, 130 after Ctrl-C (the same command
continues), 2 with one error line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from hydra import initialize_config_dir
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from tsr.cli import EXIT_USAGE
from tsr.config.composition import CONF_DIR
from tsr.config.resolvers import register_resolvers
from tsr.errors import TsrError
from tsr.sweeps.console import setup_logging
from tsr.sweeps.runner import run

log = logging.getLogger("tsr.sweep")


def main(argv: Sequence[str] | None = None) -> None:
    register_resolvers()
    setup_logging()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            code = run(sys.argv[1:] if argv is None else argv)
    except TsrError as exc:
        log.error("%s", exc)
        code = EXIT_USAGE
    except (HydraException, OmegaConfBaseException) as exc:
        log.error("invalid configuration: %s", exc)
        code = EXIT_USAGE
    sys.exit(code)


if __name__ == "__main__":
    main()
