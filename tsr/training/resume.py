"""Find the run a training command continues: `resume=true` or `ckpt_path=...`.

`resume=true` looks in the command's own folder (`hydra.run.dir`, when given one that a run
already wrote) and under `paths.log_dir` (runs/ and multiruns/) for the newest run whose
saved `config.yaml` equals this command's resolved config (apart from where it writes)
and that has a `checkpoints/last.ckpt` but no `metrics.json` (it never finished). The
resumed run keeps its folder, its checkpoints and its TensorBoard run, so curves continue
where they stopped. `ckpt_path=<file>` resumes from that checkpoint; when the file sits in
a run's `checkpoints/` folder that run is continued the same way. A new run never writes
into a folder that holds another run's checkpoints or results (`refuse_to_overwrite`).
"""

from __future__ import annotations

import copy
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from tsr.config.identity import comparable, flat
from tsr.errors import CheckpointError, ConfigError
from tsr.io.atomic import remove_stale_temps
from tsr.io.checkpoint_file import read_checkpoint
from tsr.training.checkpointing import LAST

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
RUN_INFO = "run_info.json"  # tsr.training.provenance writes it into every run folder
HOW_TO_RESUME = (
    "point it at a checkpoint a run wrote (logs/runs/<date-time>/checkpoints/last.ckpt), "
    "or use resume=true to find the last unfinished run of this configuration"
)
FINISHED_MARKER = "metrics.json"


@dataclass(frozen=True)
class ResumePoint:
    checkpoint: Path
    run_dir: Path | None  # the run continued in place; None: a new run from the weights
    # each weight's shape in the checkpoint (ckpt_path=), checked against the built model
    shapes: dict[str, tuple[int, ...]] | None = field(default=None, compare=False)


def weights_problem(model_state: dict[str, Any], point: ResumePoint) -> str | None:
    """Why the checkpoint's weights cannot go into the model this config builds (another
    backbone, other widths), or None: found before anything is trained or written."""
    if point.shapes is None:
        return None
    wanted = {name: tuple(value.shape) for name, value in model_state.items()}
    missing = [name for name in wanted if name not in point.shapes]
    extra = [name for name in point.shapes if name not in wanted]
    resized = [
        f"{name} {list(point.shapes[name])} there, {list(shape)} here"
        for name, shape in wanted.items()
        if name in point.shapes and point.shapes[name] != shape
    ]
    if not (missing or extra or resized):
        return None
    details = [
        *([f"{len(resized)} of other shapes ({resized[0]})"] if resized else []),
        *([f"{len(missing)} missing from it ({missing[0]}, ...)"] if missing else []),
        *([f"{len(extra)} this config has no place for ({extra[0]}, ...)"] if extra else []),
    ]
    return (
        f"ckpt_path={point.checkpoint} holds the weights of another network than this config "
        f"builds: {'; '.join(details)}; resume with the model settings it was trained with "
        "(its run's config.yaml)"
    )


def _resolved(cfg: DictConfig) -> dict[str, Any]:
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except OmegaConfBaseException:
        return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


def _own_folder(cfg: DictConfig) -> Path | None:
    """The command's own folder (paths.output_dir, a fixed hydra.run.dir when given one):
    a run started there before is checked before the runs under log_dir."""
    output_dir = cfg.paths.get("output_dir")
    return Path(str(output_dir)) if output_dir else None


def _unfinished_runs(cfg: DictConfig) -> list[Path]:
    """Runs with a last.ckpt and no metrics.json: the command's own folder first, then
    those under log_dir, newest first."""
    log_dir = Path(cfg.paths.log_dir)
    candidates = [*log_dir.glob(f"runs/*/checkpoints/{LAST}")]
    candidates += log_dir.glob(f"multiruns/*/*/checkpoints/{LAST}")
    runs = [c.parent.parent for c in candidates if not (c.parent.parent / FINISHED_MARKER).exists()]
    runs.sort(key=lambda run: (run / "checkpoints" / LAST).stat().st_mtime, reverse=True)
    own = _own_folder(cfg)
    if (
        own is None
        or not (own / "checkpoints" / LAST).is_file()
        or (own / FINISHED_MARKER).exists()
    ):
        return runs
    return _own_first(own, runs)


def _own_first(own: Path, runs: list[Path]) -> list[Path]:
    """`own`, then `runs` without it (the own folder may also lie under log_dir)."""
    return [own] + [run for run in runs if run.resolve() != own.resolve()]


def config_differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """`key: saved -> wanted` for every value that differs."""
    a, b = flat(saved), flat(wanted)
    return [
        f"{key}: {a.get(key)!r} -> {b.get(key)!r}"
        for key in sorted(a.keys() | b.keys())
        if a.get(key) != b.get(key)
    ]


def find_finished_run(cfg: DictConfig) -> Path | None:
    """The newest finished run (metrics.json) of exactly this configuration, or None: with
    resume=true a multirun continued after a kill skips the jobs that finished."""
    wanted = comparable(_resolved(cfg))
    log_dir = Path(cfg.paths.log_dir)
    markers = [
        *log_dir.glob(f"runs/*/{FINISHED_MARKER}"),
        *log_dir.glob(f"multiruns/*/*/{FINISHED_MARKER}"),
    ]
    markers.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    runs = [marker.parent for marker in markers]
    own = _own_folder(cfg)
    if own is not None and (own / FINISHED_MARKER).is_file():
        runs = _own_first(own, runs)
    for run in runs:
        try:
            saved = OmegaConf.to_container(OmegaConf.load(run / CONFIG_FILE))
        except (OSError, OmegaConfBaseException, yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(saved, dict) and comparable(saved) == wanted:
            return run
    return None


def find_run_to_resume(cfg: DictConfig) -> Path | None:
    """The newest unfinished run of exactly this configuration, or None (logging how the
    newest unfinished run differs, the usual cause being a changed override)."""
    wanted = comparable(_resolved(cfg))
    closest: tuple[Path, list[str]] | None = None
    for run in _unfinished_runs(cfg):
        try:
            saved = OmegaConf.to_container(OmegaConf.load(run / CONFIG_FILE))
        except (OSError, OmegaConfBaseException, yaml.YAMLError, UnicodeDecodeError) as exc:
            reason = " ".join(str(exc).split())[:120]
            log.warning("skipping %s: its config.yaml is unreadable (%s)", run, reason)
            continue
        if not isinstance(saved, dict):
            continue
        saved = comparable(saved)
        if saved == wanted:
            return run
        if closest is None:
            closest = (run, config_differences(saved, wanted))
    if closest is not None:
        run, differences = closest
        log.warning(
            "not resuming %s: its configuration differs (%s%s)",
            run,
            "; ".join(differences[:5]),
            f"; and {len(differences) - 5} more" if len(differences) > 5 else "",
        )
    return None


def resume_point(cfg: DictConfig) -> ResumePoint | None:
    """What `resume` / `ckpt_path` in `cfg` ask for; checked before anything is built."""
    resume = cfg.get("resume", False)
    if not isinstance(resume, bool):
        raise ConfigError(f"resume={resume!r} must be true or false")
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path:
        checkpoint = Path(str(ckpt_path)).expanduser()
        if not checkpoint.is_file():
            raise CheckpointError(f"ckpt_path={ckpt_path} does not exist; {HOW_TO_RESUME}")
        payload = read_checkpoint(checkpoint, HOW_TO_RESUME)
        if not isinstance(payload, dict) or "state_dict" not in payload or "loops" not in payload:
            raise CheckpointError(
                f"ckpt_path={ckpt_path} is not a Lightning training checkpoint (no state_dict "
                f"and loop state to continue from); {HOW_TO_RESUME}"
            )
        run_dir = checkpoint.parent.parent
        # only a folder tsr wrote is continued in place (its run_info.json says so); any
        # other checkpoint starts a new run from its weights and leaves its folder alone
        in_run = (
            checkpoint.parent.name == "checkpoints"
            and (run_dir / CONFIG_FILE).is_file()
            and (run_dir / RUN_INFO).is_file()
        )
        if in_run and (run_dir / FINISHED_MARKER).is_file():
            raise ConfigError(
                f"ckpt_path={ckpt_path} belongs to {run_dir}, a run that finished "
                f"({FINISHED_MARKER}); continuing it there would overwrite its results: to "
                "train on from its weights, copy the checkpoint out of that folder and give "
                "the copy (a new run starts from it; raise trainer.max_epochs for more epochs)"
            )
        state = payload["state_dict"]
        shapes = (
            {name: tuple(getattr(value, "shape", ())) for name, value in state.items()}
            if isinstance(state, dict)
            else None
        )
        return ResumePoint(checkpoint.resolve(), run_dir.resolve() if in_run else None, shapes)
    if not resume:
        return None
    run_dir = find_run_to_resume(cfg)
    if run_dir is None:
        return None  # tsr.training.run: a finished run of it, or a new run
    return ResumePoint((run_dir / "checkpoints" / LAST).resolve(), run_dir.resolve())


def refuse_to_overwrite(cfg: DictConfig) -> None:
    """A new run writes into `paths.output_dir`; refuse before anything is built when that
    folder already holds a run's last checkpoint or results (a fixed hydra.run.dir used
    twice): they would be overwritten, a resumable run lost."""
    own = _own_folder(cfg)
    if own is None:
        return
    if (own / FINISHED_MARKER).is_file():
        raise ConfigError(
            f"{own} already holds a finished run ({FINISHED_MARKER}); a new run there would "
            "overwrite it: give it another hydra.run.dir (or remove that folder)"
        )
    if (own / "checkpoints" / LAST).is_file():
        raise ConfigError(
            f"{own} already holds an unfinished run (checkpoints/{LAST}); a new run there "
            "would overwrite its checkpoints: continue it with resume=true and the command "
            f"that started it (or ckpt_path={own / 'checkpoints' / LAST}), or give this run "
            "another hydra.run.dir"
        )


def continue_in_place(cfg: DictConfig, point: ResumePoint) -> DictConfig:
    """A copy of `cfg` that writes into the resumed run's folder and TensorBoard run."""
    if point.run_dir is None:
        return cfg
    saved = OmegaConf.load(point.run_dir / CONFIG_FILE)
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(point.run_dir)
        for name, node in (cfg.get("logger") or {}).items():
            saved_node = (saved.get("logger") or {}).get(name)
            if node and "version" in node and saved_node and "version" in saved_node:
                node.version = saved_node.version
    removed = remove_stale_temps(point.checkpoint.parent)
    if removed:
        log.info("removed %d partial checkpoint file(s) a killed write left", len(removed))
    return cfg


def move_log_into(run_dir: Path, new_dir: Path) -> None:
    """Append this session's log to the resumed run's `train.log` instead of the folder
    Hydra just made for the command, and remove that folder if it holds nothing else: a
    resumed run stays one folder with one log."""
    new_dir, run_dir = new_dir.resolve(), run_dir.resolve()
    if new_dir == run_dir:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not isinstance(handler, logging.FileHandler):
            continue
        log_file = Path(handler.baseFilename)
        if log_file.parent != new_dir:
            continue
        moved = logging.FileHandler(run_dir / log_file.name, mode="a")
        moved.setFormatter(handler.formatter)
        moved.setLevel(handler.level)
        root.removeHandler(handler)
        handler.close()
        root.addHandler(moved)
        moved.stream.write(log_file.read_text())  # what this session logged so far
        log_file.unlink()
    if new_dir.is_dir() and not any(p for p in new_dir.iterdir() if p.name != ".hydra"):
        shutil.rmtree(new_dir, ignore_errors=True)
