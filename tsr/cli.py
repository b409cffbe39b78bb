"""What every command (`tsr/<command>.py`) shares: its exit statuses and the warnings
that nobody running it can act on.

Exit status: 0 success; 1 the command ran but some of its inputs failed (tsr.predict: one
error line per unreadable file, the others answered); 2 nothing was done: a bad value or
file, with one line naming the problem and the fix (`TsrError`), no traceback.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from tsr.errors import TsrError

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2


def silence_known_warnings() -> None:
    # Lightning 2.6 calls a torch API that torch 2.14 deprecated; nothing for users to act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # TensorBoard's graph view still needs torch.jit.trace (tsr.tensorboard.ModelGraph).
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.trace", category=FutureWarning)


@contextmanager
def user_errors(log: logging.Logger) -> Iterator[None]:
    """A `TsrError` inside ends the command: its message as one error line, exit 2."""
    try:
        yield
    except TsrError as exc:
        log.error("%s", exc)
        sys.exit(EXIT_USAGE)
