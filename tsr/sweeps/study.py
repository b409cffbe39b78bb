"""The Optuna side of a sweep: settings, sampler, pruner, storage, and the trial budget.

The budget (`sweep.n_trials`) counts the trials that produced a result: complete,
pruned, or failed with an error of their own (a bad combination, NaN loss, out of
memory). Trials cut off by Ctrl-C or a killed worker do not count; their parameters
are queued again, so rerunning the command loses nothing and repeats nothing.
Several workers can share one study: a trial may start only while fewer than
`n_trials` trials with lower numbers count or run (trial numbers are assigned by
the storage, so this admission is race-free); a trial that loses the race ends at
once as FAIL with the user attribute `surplus`.
"""

from __future__ import annotations

import logging
import os
import random
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from tsr.errors import ConfigError
from tsr.models import EPOCH_METRICS
from tsr.sweeps.space import SearchParam, parse_space
from tsr.training.run import RESULT_METRICS

log = logging.getLogger(__name__)

SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
}
PRUNERS = {
    "median": optuna.pruners.MedianPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "none": optuna.pruners.NopPruner,
}
DIRECTIONS = ("maximize", "minimize")

# user attributes the sweep writes on trials
ERROR = "error"  # the trial failed by itself: counts toward n_trials
WORKER = "worker"  # {"host", "pid"} of the process running the trial
INTERRUPTED = "interrupted"  # Ctrl-C: does not count, its parameters are queued again
SURPLUS = "surplus"  # lost the admission race between workers: never ran


@dataclass(frozen=True)
class SweepSettings:
    """`sweep.*` of conf/sweep/<name>.yaml (see there for what each key means)."""

    study_name: str
    n_trials: int
    params: list[SearchParam]
    train: list[str] = field(default_factory=list)
    storage: str | None = None
    worker: int = 0
    direction: str = "maximize"
    metric: str = "val/acc_best"
    prune_on: str = "val/acc"
    timeout: float | None = None
    sampler: Mapping[str, Any] = field(default_factory=lambda: {"name": "tpe", "seed": 42})
    pruner: Mapping[str, Any] = field(default_factory=lambda: {"name": "median"})
    enqueue: list[Mapping[str, Any]] = field(default_factory=list)
    top_k: int = 10
    heartbeat_s: int = 60

    @classmethod
    def from_config(cls, sweep: Mapping[str, Any]) -> SweepSettings:
        values = dict(sweep)
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"unknown sweep key(s) {', '.join(unknown)}; valid: "
                + ", ".join(sorted(cls.__dataclass_fields__))
            )
        values["params"] = parse_space(values.get("params"))
        values["train"] = [str(o) for o in values.get("train") or []]
        values["enqueue"] = list(values.get("enqueue") or [])
        worker = values.get("worker", 0)
        try:
            values["worker"] = _int(worker, "sweep.worker", 0)
        except ConfigError:
            if worker != os.environ.get("SLURM_ARRAY_TASK_ID"):
                raise
            raise ConfigError(  # sweep.worker's default reads it
                f"SLURM_ARRAY_TASK_ID={worker!r} in the environment gives sweep.worker, which "
                "must be an integer >= 0: unset it or give sweep.worker=<index>"
            ) from None
        return cls(**values)

    def __post_init__(self) -> None:
        if not self.study_name or "/" in self.study_name:
            raise ConfigError(f"sweep.study_name={self.study_name!r} must be a non-empty name")
        _int(self.n_trials, "sweep.n_trials", 1)
        _int(self.top_k, "sweep.top_k", 1)
        _int(self.heartbeat_s, "sweep.heartbeat_s", 1)
        if self.metric not in RESULT_METRICS:  # else every trial trains, then fails
            raise ConfigError(
                f"sweep.metric={self.metric!r} is no number a run's metrics.json holds; "
                f"choose one of: {', '.join(RESULT_METRICS)}"
            )
        if self.prune_on not in EPOCH_METRICS:  # else pruning is silently off
            raise ConfigError(
                f"sweep.prune_on={self.prune_on!r} is no metric a training epoch logs; "
                f"choose one of: {', '.join(EPOCH_METRICS)}"
            )
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                f"sweep.direction={self.direction!r}; valid choices: {', '.join(DIRECTIONS)}"
            )
        for key, table, registry in (
            ("sampler", self.sampler, SAMPLERS),
            ("pruner", self.pruner, PRUNERS),
        ):
            if table.get("name") not in registry:
                raise ConfigError(
                    f"unknown sweep.{key}.name={table.get('name')!r}; valid choices: "
                    + ", ".join(registry)
                )
        names = {p.name for p in self.params}
        for i, point in enumerate(self.enqueue):
            unknown = sorted(set(point) - names)
            if unknown:
                raise ConfigError(
                    f"sweep.enqueue[{i}] sets {', '.join(unknown)}, not in sweep.params "
                    f"({', '.join(sorted(names))})"
                )


def _int(value: Any, name: str, minimum: int) -> int:
    """An integer setting; digits in a string count (values from environment variables)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    return value


def make_sampler(settings: SweepSettings, trials_so_far: int = 0) -> optuna.samplers.BaseSampler:
    """The configured sampler, with the options under `sweep.sampler.<name>`. Its seed is
    offset by the worker index and by the trials the study already holds, so workers that
    share a study, and a continued study, do not draw the points drawn before; a new
    single-worker sweep is reproducible from its seed."""
    name = settings.sampler["name"]
    options = dict(settings.sampler.get(name) or {})
    seed = settings.sampler.get("seed")
    if seed is not None:
        options["seed"] = int(seed) + 100_003 * settings.worker + trials_so_far
    try:
        return SAMPLERS[name](**options)
    except TypeError as exc:
        raise ConfigError(f"sweep.sampler.{name}: {exc}") from exc


def make_pruner(settings: SweepSettings, max_epochs: int) -> optuna.pruners.BasePruner:
    """The configured pruner, with the options under `sweep.pruner.<name>`."""
    name = settings.pruner["name"]
    options = dict(settings.pruner.get(name) or {})
    if name == "hyperband":
        options.setdefault("min_resource", 1)
        options.setdefault("max_resource", max(1, max_epochs))
    try:
        return PRUNERS[name](**options)
    except TypeError as exc:
        raise ConfigError(f"sweep.pruner.{name}: {exc}") from exc


def storage_url(settings: SweepSettings, sweep_dir: Path) -> str:
    """`sweep.storage`, else an SQLite file in the sweep's folder."""
    if settings.storage:
        return settings.storage
    return f"sqlite:///{(sweep_dir / 'study.db').resolve()}"


def open_storage(url: str, heartbeat_s: int) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats: a trial whose worker died (SIGKILL, lost node) is
    marked FAIL after `2 x heartbeat_s` of silence and its parameters are queued again."""
    engine_kwargs: dict[str, Any] = (
        {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    )
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        folder = Path(url.removeprefix("sqlite:///").split("?", 1)[0]).parent
        if not folder.is_dir():  # else 5 tries of SQLite's "unable to open", ~13 s
            raise ConfigError(
                f"cannot open sweep.storage={url!r}: the folder {folder} does not exist; "
                "create it, or leave sweep.storage unset for study.db in the sweep's folder"
            )
    last_error: Exception | None = None
    # Workers that start together race to create the schema of a fresh database.
    for attempt in range(5):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.8
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_s,
                    grace_period=2 * heartbeat_s,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2),
                )
        except ImportError as exc:
            raise ConfigError(
                f"sweep.storage={url!r} needs a database driver: {exc}. For PostgreSQL: "
                "pip install 'psycopg[binary]' and use postgresql+psycopg://..."
            ) from exc
        except Exception as exc:  # sqlalchemy errors: bad URL, server down, schema race
            last_error = exc
            if "ArgumentError" in type(exc).__name__ or "unable to open database" in str(exc):
                break  # a bad URL or an SQLite file that cannot be made: no race, no retry
            time.sleep(0.5 + random.random() * (attempt + 1))
    reason = (str(last_error).strip().splitlines() or [type(last_error).__name__])[0]
    raise ConfigError(
        f"cannot open sweep.storage={url!r}: {reason}. It takes a database URL, "
        "sqlite:////absolute/path/study.db (its folder must exist and be writable) or "
        "postgresql+psycopg://user@host/db; leave sweep.storage unset for study.db in the "
        "sweep's folder"
    ) from last_error


def open_study(
    settings: SweepSettings, storage: optuna.storages.BaseStorage, max_epochs: int
) -> tuple[optuna.Study, bool]:
    """Create the study, or load it to continue; True when this call created it (the
    creator queues `sweep.enqueue`, so several workers do not queue it twice)."""
    kwargs = {
        "study_name": settings.study_name,
        "storage": storage,
        "pruner": make_pruner(settings, max_epochs),
    }
    try:
        study = optuna.create_study(direction=settings.direction, **kwargs)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(**kwargs)
        created = False
        if study.direction.name.lower() != settings.direction:
            raise ConfigError(
                f"study {settings.study_name!r} in {storage!r} was created to "
                f"{study.direction.name.lower()}, not {settings.direction}: use another "
                "sweep.study_name"
            ) from None
    if study.metric_names is None:  # optuna-dashboard: the objective by name, not "Objective 0"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([settings.metric])
    study.sampler = make_sampler(settings, len(study.get_trials(deepcopy=False)))
    if created:
        for point in settings.enqueue:
            study.enqueue_trial(dict(point))
    return study, created


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """A trial that produced a result: complete, pruned, or failed by itself."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and ERROR in trial.user_attrs


def used_budget(study: optuna.Study, below: int | None = None, running: bool = True) -> int:
    """Trials that count toward n_trials (and, with `running`, those still running),
    among those numbered below `below` if given."""
    used = 0
    for trial in study.get_trials(deepcopy=False):
        if below is not None and trial.number >= below:
            continue
        if counts_toward_budget(trial) or (running and trial.state == TrialState.RUNNING):
            used += 1
    return used


def state_counts(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        name = trial.state.name
        if trial.state == TrialState.FAIL:
            if SURPLUS in trial.user_attrs:
                name = "FAIL (surplus, never ran)"
            elif ERROR not in trial.user_attrs:
                name = "FAIL (interrupted or worker lost; re-queued)"
        counts[name] = counts.get(name, 0) + 1
    return counts
