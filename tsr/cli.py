"""What every command (`tsr/<command>.py`) shares: its exit statuses and the warnings
that nobody running it can act on.

Exit status: 0 success; 1 the command ran but some of its inputs failed (tsr.predict: one
error line per unreadable file, the others answered); 2 nothing was done: a bad value or
file, with one line naming the problem and the fix (`TsrError`), no traceback.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import OverrideParseException

from tsr.config.composition import output_folder, unknown_key_problem
from tsr.errors import TsrError
from tsr.io.folders import folder_problem

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse for tsr's plain commands (tsr.report, tsr.compare): a usage error is one
    line naming the fix, exit 2 (argparse prints its usage block, then the error)."""

    def error(self, message: str) -> NoReturn:
        self.fail(f"{message} (--help shows the usage)")

    def fail(self, message: str) -> NoReturn:
        """A bad argument's value (a folder, a file): one line, exit 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


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


# Hydra's flags that take the next argument as their value (not an override)
_VALUE_FLAGS = frozenset(
    {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--cfg", "-c"}
    | {"--package", "-p", "--info", "-i", "--experimental-rerun"}
)
# Hydra's modes, of which it takes one (two end in its ValueError's traceback)
_MODES = {"-m": "--multirun", "-c": "--cfg", "-i": "--info", "-r": "--run"}
_MODES |= {"-sc": "--shell-completion"} | {long: long for long in _MODES.values()}
_QUOTE = """quote it inside single quotes for the shell, e.g. 'inputs=["/photos/a=b, c.png"]'"""


def command_line_problem(argv: Sequence[str]) -> str | None:
    """Why Hydra would refuse these arguments, said with the fix; None when it would not.

    Hydra's own answer to a value it cannot parse (a path with `=` or a quote) is a grammar
    message ("mismatched input '=' expecting <EOF>") and exit status 1, which tsr gives to
    "some inputs failed"; two modes (--multirun --cfg job) end in a traceback. (A comma
    outside brackets, a sweep, is left to Hydra: an experiment may set hydra.mode=MULTIRUN,
    and without it Hydra's own message says how to quote it.)
    """
    modes = sorted({_MODES[arg] for arg in argv if arg in _MODES})
    if len(modes) > 1:
        return f"{' and '.join(modes)} cannot be used together: give one of them"
    parser = OverridesParser.create()
    previous = ""
    for arg in argv:
        skip, previous = arg.startswith("-") or previous in _VALUE_FLAGS, arg
        if skip:
            continue
        if "=" not in arg and not arg.startswith("~"):
            return (
                f"cannot read the argument {arg!r}: each argument is key=value (e.g. "
                "model=multiscale), ~key to delete one, or a flag such as --multirun"
            )
        try:
            parser.parse_overrides([arg])
        except OverrideParseException as exc:
            reason = str(exc).strip().splitlines()[0]
            return (
                f"cannot read the argument {arg!r} ({reason}): if its value holds = , ' \" "
                f"spaces or brackets, {_QUOTE}"
            )
    return None


def checks_command_line(config_name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """A Hydra command (composing `config_name`) that first refuses a command line Hydra
    cannot read, or an override of a key that does not exist: one error line naming the
    argument and the fix, exit status 2, before anything is loaded."""

    def wrap(main: Callable[[], None]) -> Callable[[], None]:
        @functools.wraps(main)
        def command(*args, **kwargs):
            if not args and not kwargs:  # run from the shell (tests may pass a config)
                argv = sys.argv[1:]
                problem = command_line_problem(argv)
                flags = {a for a in argv if a.startswith("-")}
                if problem is None and not flags:
                    problem = unknown_key_problem(config_name, argv)  # plain overrides only
                if problem is None and flags <= {"-m", "--multirun"}:  # Hydra makes a folder
                    overrides = [a for a in argv if a not in flags]
                    found = output_folder(config_name, overrides, multirun=bool(flags))
                    problem = folder_problem(*found) if found else None
                if problem:
                    print(f"error: {problem}", file=sys.stderr)
                    sys.exit(EXIT_USAGE)
            return main(*args, **kwargs)

        return command

    return wrap
