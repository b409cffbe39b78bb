"""Composing the YAML configs in conf/: where they are, and a misspelt key said as the user
can act on it (Hydra alone: "Key 'max_epoch' is not in struct", exit status 1)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import DictConfig, OmegaConf

from tsr.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@contextmanager
def _configs() -> Iterator[None]:
    """Hydra pointed at conf/, unless a caller already initialised it."""
    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        yield


def _missing_option_problem(exc: Exception) -> str | None:
    """Hydra's MissingConfigException for model=alexnet (a dozen lines: the group's options,
    one per line, then its config search path; exit status 1) as one line naming the
    options, which the exception carries; only the group is read from its message."""
    if not isinstance(exc, MissingConfigException) or not exc.missing_cfg_file:
        return None
    path = exc.missing_cfg_file
    listed = re.search(r"Available options in '([^']+)'", str(exc))
    group = listed.group(1) if listed else path.rpartition("/")[0]
    if not group or not path.startswith(group + "/"):
        return None
    where = f"conf/{group}/" if not group.startswith("hydra/") else f"Hydra's {group} group"
    return f"{group}={path[len(group) + 1 :]}: no such config in {where}; " + (
        f"choose one of: {', '.join(exc.options)}" if exc.options else "that group has none"
    )


def unknown_key_problem(config_name: str, overrides: Sequence[str]) -> str | None:
    """The override that sets a key the composed config does not have, with the keys its
    parent does have and the closest one, or that names a config a group does not have
    (model=alexnet), with the group's configs; None when every key exists (or composition
    fails for another reason, which Hydra's own message then says). Costs one or two
    compositions, 0.1-0.3 s (measured on a 2-core EPYC), against a command's ~6 s of imports."""
    try:
        with _configs():
            compose(config_name, overrides=list(overrides))
        return None
    except ConfigCompositionException as exc:
        missing = _missing_option_problem(exc)
        if missing is not None:
            return missing
        found = re.match(r"Could not override '([^']+)'", str(exc))
    except Exception:  # a sweep, a bad type: Hydra's message says it
        return None
    if found is None:
        return None
    key = found.group(1)
    others = [o for o in overrides if o.split("=", 1)[0] != key]
    cfg = None
    for _ in range(len(overrides)):  # drop every other misspelt key too, one at a time
        try:
            with _configs():
                cfg = compose(config_name, overrides=others)
            break
        except ConfigCompositionException as exc:
            more = re.match(r"Could not override '([^']+)'", str(exc))
            if more is None:
                return None
            others = [o for o in others if o.split("=", 1)[0] != more.group(1)]
        except Exception:
            return None
    if cfg is None:
        return None
    parent, _, leaf = key.rpartition(".")
    while parent and not isinstance(OmegaConf.select(cfg, parent), DictConfig):
        parent, _, leaf = parent.rpartition(".")  # datta.batch_size: datta is the typo
    keys = sorted(str(k) for k in (OmegaConf.select(cfg, parent) if parent else cfg))
    if leaf in keys and parent == key.rpartition(".")[0]:  # the key is there: its value adds
        given = next(o for o in overrides if o.split("=", 1)[0] == key)
        return (
            f"{key} is a mapping, and {given} adds keys it does not hold yet: Hydra takes "
            f"that with a + in front: '+{given}'"
        )
    close = difflib.get_close_matches(leaf, keys, n=1)
    where = f"{parent}." if parent else ""
    hint = f"did you mean {where}{close[0]}? " if close else ""
    return (
        f"{where}{leaf} is not a setting ({parent or 'the top level'} has: {', '.join(keys)}):"
        f" {hint}docs/configuration.md lists them all (+key=value adds one that a class"
        " takes, e.g. +model.optimizer.momentum=0.9 for SGD)"
    )


def compose_checked(config_name: str, overrides: Sequence[str]) -> DictConfig:
    """`hydra.compose` (inside an initialised Hydra), a misspelt key raised as ConfigError
    naming the keys beside it."""
    try:
        return compose(config_name, overrides=list(overrides))
    except ConfigCompositionException:
        problem = unknown_key_problem(config_name, overrides)
        if problem is None:
            raise
        raise ConfigError(problem) from None


def output_folder(
    config_name: str, overrides: Sequence[str], multirun: bool
) -> tuple[str, str] | None:
    """The folder Hydra will make for this command line (hydra.run.dir, or hydra.sweep.dir
    for a multirun), resolved, and the setting that names it (output_dir where the command
    has one); None when it cannot be told before Hydra runs."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        # a sweep (seed=1,2) is not composed: each job's value leaves the folder as it is
        plain = [o.input_line for o in parsed if not o.is_sweep_override()]
        with _configs():
            cfg = compose(config_name, overrides=plain, return_hydra_config=True)
        multirun = multirun or str(OmegaConf.select(cfg, "hydra.mode")).endswith("MULTIRUN")
        folder = OmegaConf.select(cfg, "hydra.sweep.dir" if multirun else "hydra.run.dir")
    except Exception:  # an interpolation only Hydra's run resolves: Hydra's to say
        return None
    if not folder:
        return None
    setting = "hydra.run.dir" if "output_dir" not in cfg else "output_dir"
    return str(folder), "hydra.sweep.dir" if multirun else setting
