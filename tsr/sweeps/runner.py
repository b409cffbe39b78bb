"""Run a sweep: parse its arguments, open or continue the study, run trials until the
budget is spent, summarise; Ctrl-C requeues the interrupted trial."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import TrialState

from tsr.config.composition import compose_checked
from tsr.errors import ConfigError
from tsr.io.folders import folder_problem
from tsr.sweeps.console import add_log_file
from tsr.sweeps.objective import BudgetSpent, Objective, TrialError, check_space, compose_training
from tsr.sweeps.study import (
    ERROR,
    INTERRUPTED,
    WORKER,
    SweepSettings,
    open_storage,
    open_study,
    storage_url,
    used_budget,
)
from tsr.sweeps.summary import summarize

log = logging.getLogger("tsr.sweep")
COMMANDS = ("run", "summary")
SWEEP_KEYS = ("sweep=", "sweep.", "+sweep", "~sweep", "++sweep")
USAGE = """Optuna sweeps over the training config:
`python -m tsr.sweep [sweep=<name>] [...] [summary]`.

    python -m tsr.sweep sweep=lenet                          # conf/sweep/lenet.yaml
    python -m tsr.sweep sweep=lenet model=multiscale trainer.max_epochs=5 sweep.n_trials=50
    python -m tsr.sweep sweep=lenet summary                  # best, top-k, importances

`sweep.*` overrides set the study (conf/sweep/); every other override is a training
override, applied to each trial as on `python -m tsr.train`. A trial is the training
run that `sweep.train` + those overrides + the trial's parameter values describe; it
runs in-process through `tsr.training.run.train`, reports val accuracy each epoch for
pruning, and writes to `logs/sweeps/<study>/trials/<number>/` and TensorBoard
`logs/tb/sweeps/<study>/trial_<number>`. The study lives in `sweep.storage` (default:
`logs/sweeps/<study>/study.db`), so the same command continues it, and workers that
share a PostgreSQL storage run one study together.
"""


def split_args(argv: Sequence[str]) -> tuple[str, list[str], list[str]]:
    """(command, sweep overrides, training overrides)."""
    command = "run"
    sweep, training = [], []
    for arg in argv:
        if arg in ("-h", "--help"):
            print(USAGE)
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


def print_summary(summary: dict[str, Any], sweep_dir: Path) -> None:
    text = (sweep_dir / "summary.md").read_text()
    print(text)
    log.info("summary written to %s", sweep_dir / "summary.md")


def run(argv: Sequence[str]) -> int:
    command, sweep_overrides, training_overrides = split_args(argv)
    sweep_cfg = compose_checked("sweep", sweep_overrides)
    settings = SweepSettings.from_config(OmegaConf.to_container(sweep_cfg.sweep, resolve=True))
    base = compose_training([*settings.train, *training_overrides])
    sweep_dir = Path(base.paths.log_dir) / "sweeps" / settings.study_name
    url = storage_url(settings, sweep_dir)
    if command == "summary":
        if settings.storage is None and not (sweep_dir / "study.db").is_file():
            raise ConfigError(
                f"no study {settings.study_name!r} in {sweep_dir}: run the sweep first "
                "(same sweep= and sweep.* overrides, and the same paths.log_dir)"
            )
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
    problem = folder_problem(str(sweep_dir), "paths.log_dir")
    if problem:
        raise ConfigError(problem)
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
    fail_dead_trials(study)
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
    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    trials = study.get_trials(deepcopy=False)
    if trials and not any(t.state in finished for t in trials):
        first = next((t.user_attrs.get(ERROR) for t in trials if t.user_attrs.get(ERROR)), None)
        log.error(
            "no trial of study %r finished: every one failed%s",
            settings.study_name,
            f" (the first: {first})" if first else "",
        )
        return 1
    return 0


def fail_dead_trials(study: optuna.Study) -> None:
    """Trials left RUNNING by a worker that died (kill -9, a lost node) are failed and their
    parameters queued again, before the budget is counted: at once when the worker ran on
    this machine and its process is gone, else when its heartbeat is older than the grace
    period (Optuna's `fail_stale_trials`, on SQLite as on PostgreSQL)."""
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER) or {}
        if worker.get("host") != host or _alive(int(worker.get("pid", -1))):
            continue
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        log.warning(
            "trial %d was left running by process %s, which is gone (killed?): recorded as "
            "failed and its parameters queued again",
            trial.number,
            worker.get("pid"),
        )
    optuna.storages.fail_stale_trials(study)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


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
