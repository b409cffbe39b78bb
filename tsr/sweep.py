"""Optuna sweeps over the training config: `python -m tsr.sweep [sweep=<name>] [...] [summary]`.

    python -m tsr.sweep sweep=lenet                          # conf/sweep/lenet.yaml
    python -m tsr.sweep sweep=lenet model=multiscale trainer.max_epochs=5 sweep.n_trials=50
    python -m tsr.sweep sweep=lenet summary                  # best, top-k, importances

`sweep.*` overrides set the study (conf/sweep/); every other override is a training
override, applied to each trial as on `python -m tsr.train`. A trial is the training
run that `sweep.train` + those overrides + the trial's parameter values describe; it
runs in-process through `tsr.train.train`, reports val accuracy each epoch for
pruning, and writes to `logs/sweeps/<study>/trials/<number>/` and TensorBoard
`logs/tb/sweeps/<study>/trial_<number>`. The study lives in `sweep.storage` (default:
`logs/sweeps/<study>/study.db`), so the same command continues it, and workers that
share a PostgreSQL storage run one study together.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from tsr.errors import ConfigError, TsrError
from tsr.resolvers import register_resolvers
from tsr.sweeps.pruning import TrialPruning
from tsr.sweeps.space import first_point
from tsr.sweeps.study import (
    ERROR,
    INTERRUPTED,
    SURPLUS,
    SweepSettings,
    open_storage,
    open_study,
    storage_url,
    used_budget,
)
from tsr.sweeps.summary import summarize
from tsr.train import build, train

log = logging.getLogger("tsr.sweep")
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
SWEEP_KEYS = ("sweep=", "sweep.", "+sweep", "~sweep", "++sweep")
COMMANDS = ("run", "summary")


class TrialError(Exception):
    """A trial failed by itself (recorded FAIL with its error; the sweep goes on)."""


class BudgetSpent(Exception):
    """Another worker took the last trial of the budget first."""


def split_args(argv: Sequence[str]) -> tuple[str, list[str], list[str]]:
    """(command, sweep overrides, training overrides)."""
    command = "run"
    sweep, training = [], []
    for arg in argv:
        if arg in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if arg in COMMANDS:
            command = arg
        elif arg.startswith(SWEEP_KEYS):
            sweep.append(arg)
        elif "=" not in arg and not arg.startswith("~"):
            raise ConfigError(
                f"unknown argument {arg!r}: give overrides key=value, or a command "
                f"({', '.join(COMMANDS)})"
            )
        else:
            training.append(arg)
    return command, sweep, training


def compose_training(overrides: Sequence[str]) -> DictConfig:
    """The training config of `python -m tsr.train <overrides>` (inside initialize_config_dir)."""
    return compose("train", overrides=list(overrides))


def check_space(settings: SweepSettings, overrides: Sequence[str]) -> None:
    """Build (without data) the training config at one point of the space and at every
    categorical choice, so a misspelt path or choice fails before the first trial."""
    base = first_point(settings.params)
    points = [base]
    for param in settings.params:
        points += [{**base, param.name: choice} for choice in param.choices[1:]]
    for point in points:
        values = [p.override(point[p.name]) for p in settings.params]
        try:
            cfg = compose_training([*overrides, *values])
        except (HydraException, OmegaConfBaseException) as exc:
            raise ConfigError(f"sweep.params: {' '.join(values)}: {exc}") from None
        with open_dict(cfg):
            cfg.paths.output_dir = "unused"
            cfg.logger = None
        try:
            build(cfg)
        except ConfigError as exc:
            raise ConfigError(f"sweep.params at {point}: {exc}") from None


class Objective:
    """One trial: suggest values, compose the training config, train, return the metric."""

    def __init__(self, settings: SweepSettings, overrides: list[str], sweep_dir: Path) -> None:
        self.settings = settings
        self.overrides = overrides
        self.sweep_dir = sweep_dir
        self.current: optuna.Trial | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        self.current = trial
        if used_budget(trial.study, below=trial.number) >= self.settings.n_trials:
            trial.set_user_attr(SURPLUS, True)
            trial.study.stop()
            raise BudgetSpent(f"the study reached sweep.n_trials={self.settings.n_trials}")
        values = {p.name: p.suggest(trial) for p in self.settings.params}
        overrides = [
            *self.settings.train,
            *self.overrides,
            *(p.override(values[p.name]) for p in self.settings.params),
        ]
        trial_dir = self.sweep_dir / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("output_dir", str(trial_dir))
        done = used_budget(trial.study, below=trial.number, running=False)
        log.info(
            "trial %d (%d/%d): %s",
            trial.number,
            done + 1,
            self.settings.n_trials,
            ", ".join(
                f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
            ),
        )
        error = None
        try:
            cfg = compose_training(overrides)
            self._place(cfg, trial_dir, trial.number)
            pruning = TrialPruning(trial, self.settings.prune_on, cfg)
            metrics = train(cfg, callbacks=[pruning], show_summary=False)
        except optuna.TrialPruned:
            raise
        except (KeyboardInterrupt, SystemExit):
            # Lightning turns Ctrl-C into sys.exit(1) and leaves SIGINT ignored.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            trial.set_user_attr(INTERRUPTED, True)
            raise KeyboardInterrupt from None
        except TsrError as exc:
            error = str(exc)
        except Exception as exc:  # out of memory, a bad combination, a bug: one trial's fault
            error = f"{type(exc).__name__}: {exc}".strip()
            trial_dir.mkdir(parents=True, exist_ok=True)
            (trial_dir / "error.txt").write_text(traceback.format_exc())
        if error is None:
            value = metrics.get(self.settings.metric)
            if value is None or not math.isfinite(value):
                error = f"the run gave no finite {self.settings.metric} ({value})"
        if error is not None:
            trial.set_user_attr(ERROR, error)
            raise TrialError(error)
        trial.set_user_attr("epochs", metrics["epochs"])
        trial.set_user_attr("seconds_per_epoch", metrics["seconds_per_epoch"])
        return float(value)

    def _place(self, cfg: DictConfig, trial_dir: Path, number: int) -> None:
        """The trial's output folder and TensorBoard run (named by trial number)."""
        with open_dict(cfg):
            cfg.paths.output_dir = str(trial_dir)
            tensorboard = (cfg.get("logger") or {}).get("tensorboard")
            if tensorboard:
                tensorboard.name = f"sweeps/{self.settings.study_name}"
                tensorboard.version = f"trial_{number:04d}"


def _no_tracebacks(record: logging.LogRecord) -> bool:
    """Optuna logs a failed trial with its traceback; tsr keeps it in the trial's
    error.txt and shows the one-line error."""
    record.exc_info = None
    record.exc_text = None
    return True


_CONSOLE_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is now (it may be replaced after set-up)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging() -> None:
    """Console: the sweep's own lines, Optuna's, and warnings; the file gets all (INFO)."""
    root = logging.getLogger()
    if any(getattr(h, "tsr_sweep", False) for h in root.handlers):
        return
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    console = _StdoutHandler()
    console.tsr_sweep = True  # type: ignore[attr-defined]
    console.setFormatter(logging.Formatter(_CONSOLE_FORMAT))
    console.addFilter(
        lambda r: r.levelno >= logging.WARNING or r.name.startswith(("tsr.sweep", "optuna"))
    )
    console.addFilter(_no_tracebacks)
    root.setLevel(logging.INFO)
    root.addHandler(console)
    # Lightning prints through handlers of its own: route it through the filter above.
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def add_log_file(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(_CONSOLE_FORMAT))
    logging.getLogger().addHandler(handler)
    return handler


def print_summary(summary: dict[str, Any], sweep_dir: Path) -> None:
    text = (sweep_dir / "summary.md").read_text()
    print(text)
    log.info("summary written to %s", sweep_dir / "summary.md")


def run(argv: Sequence[str]) -> int:
    command, sweep_overrides, training_overrides = split_args(argv)
    sweep_cfg = compose("sweep", overrides=sweep_overrides)
    settings = SweepSettings.from_config(OmegaConf.to_container(sweep_cfg.sweep, resolve=True))
    base = compose_training([*settings.train, *training_overrides])
    sweep_dir = Path(base.paths.log_dir) / "sweeps" / settings.study_name
    url = storage_url(settings, sweep_dir)
    if command == "summary":
        storage = open_storage(url, settings.heartbeat_s)
        if settings.study_name not in optuna.get_all_study_names(storage):
            raise ConfigError(
                f"no study {settings.study_name!r} in {url}: run the sweep first "
                "(same sweep= and sweep.* overrides)"
            )
        study = optuna.load_study(study_name=settings.study_name, storage=storage)
        print_summary(summarize(study, settings, sweep_dir), sweep_dir)
        return 0

    check_space(settings, [*settings.train, *training_overrides])
    sweep_dir.mkdir(parents=True, exist_ok=True)
    handler = add_log_file(sweep_dir / "sweep.log")
    try:
        return optimize(settings, training_overrides, sweep_dir, url, int(base.trainer.max_epochs))
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def optimize(
    settings: SweepSettings, overrides: list[str], sweep_dir: Path, url: str, max_epochs: int
) -> int:
    """Run trials until the study holds `n_trials` results; 130 after Ctrl-C."""
    storage = open_storage(url, settings.heartbeat_s)
    study, created = open_study(settings, storage, max_epochs)
    used = used_budget(study)
    log.info(
        "study %r in %s: %s, %d of %d trials done or running; sampler %s, pruner %s",
        settings.study_name,
        url,
        "created" if created else "continued",
        used,
        settings.n_trials,
        settings.sampler.get("name"),
        settings.pruner.get("name"),
    )
    objective = Objective(settings, overrides, sweep_dir)

    def stop_when_spent(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        if used_budget(study) >= settings.n_trials:
            study.stop()

    if used < settings.n_trials:
        try:
            study.optimize(
                objective,
                timeout=settings.timeout,
                catch=(TrialError, BudgetSpent),
                callbacks=[stop_when_spent],
                gc_after_trial=True,
            )
        except KeyboardInterrupt:
            requeue_interrupted(study, objective.current)
            summarize(study, settings, sweep_dir)
            return 130
    print_summary(summarize(study, settings, sweep_dir), sweep_dir)
    return 0


def requeue_interrupted(study: optuna.Study, trial: optuna.Trial | None) -> None:
    """Queue the parameters of the trial Ctrl-C cut off, so the next run repeats it."""
    frozen = next(
        (t for t in study.get_trials(deepcopy=False) if trial and t.number == trial.number), None
    )
    if frozen is not None and INTERRUPTED in frozen.user_attrs and frozen.state.is_finished():
        study.enqueue_trial(frozen.params, user_attrs={"retry_of": frozen.number})
    log.warning(
        "interrupted: %sthe study is consistent. Run the same command to continue.",
        f"trial {frozen.number} is recorded as failed (interrupted) and queued again; "
        if frozen is not None and INTERRUPTED in frozen.user_attrs
        else "",
    )


def main(argv: Sequence[str] | None = None) -> None:
    register_resolvers()
    setup_logging()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            code = run(sys.argv[1:] if argv is None else argv)
    except TsrError as exc:
        log.error("%s", exc)
        code = 2
    except (HydraException, OmegaConfBaseException) as exc:
        log.error("invalid configuration: %s", exc)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
