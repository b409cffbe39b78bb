"""Runs as tables: every `metrics.json` under some folders, one Markdown row per run, and
one row per configuration repeated over seeds (mean, standard deviation, n, 95 % CI)."""

from __future__ import annotations

import json
import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from scipy import stats

from tsr.config.identity import comparable, flat

log = logging.getLogger(__name__)

COLUMNS = (
    ("model", "model", "{}"),
    ("backbone", "backbone", "{}"),
    ("preprocessing", "data type", "{}"),
    ("epochs", "epochs", "{}"),
    ("seed", "seed", "{}"),
    ("precision", "precision", "{}"),
    ("test/acc", "test acc", "{:.2%}"),
    ("test/loss", "test loss", "{:.3f}"),
    ("test/ece", "test ECE", "{:.2%}"),
    ("val/acc_best", "best val acc", "{:.2%}"),
    ("seconds_per_epoch", "s/epoch", "{:.1f}"),
    ("parameters", "params", "{:,}"),
    ("macs", "MACs/image", "{:,}"),
)
# the columns that hold numbers (a formatted cell)
NUMBERS = tuple(key for key, _, fmt in COLUMNS if fmt != "{}")


def _number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


# the metrics summarised over the seeds of a configuration
SUMMARISED = (("test/acc", "test acc"), ("val/acc_best", "best val acc"), ("test/ece", "test ECE"))


@dataclass
class Run:
    folder: Path
    metrics: dict[str, Any]
    config: dict[str, Any] | None  # the run's config.yaml, resolved (None if absent)


@dataclass
class Group:
    """The runs of one configuration (everything but the seeds and the paths)."""

    key: str
    runs: list[Run] = field(default_factory=list)

    def values(self, key: str) -> list[float]:
        """`key` of every run that recorded it."""
        return [r.metrics[key] for r in self.runs if r.metrics.get(key) is not None]

    def summary(self, key: str) -> dict[str, float | int | None]:
        """n, mean, std and 95 % CI of `key` over the runs (`describe`); every summarised
        metric is a fraction, so its interval stays within [0, 1]."""
        return describe(self.values(key), bounds=(0.0, 1.0))


def find_runs(folders: list[Path]) -> list[Run]:
    runs = []
    for folder in folders:
        for path in sorted(Path(folder).rglob("metrics.json")):
            config_file = path.parent / "config.yaml"
            try:
                config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else None
            except (OSError, yaml.YAMLError):
                config = None
            try:
                metrics = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                log.warning("%s left out: not readable JSON (%s)", path, exc)
                continue
            if not isinstance(metrics, dict):
                log.warning("%s left out: not a tsr.train metrics file (no JSON object)", path)
                continue
            wrong = next((key for key in NUMBERS if not _number_or_null(metrics.get(key))), None)
            if wrong is not None:
                log.warning(
                    "%s left out: %s is %r, not a number (not a metrics file tsr.train wrote)",
                    path,
                    wrong,
                    metrics[wrong],
                )
                continue
            runs.append(Run(path.parent, metrics, config))
    return runs


def find_metrics(folders: list[Path]) -> list[dict]:
    return [run.metrics for run in find_runs(folders)]


def markdown_table(runs: list[dict]) -> str:
    runs = sorted(runs, key=lambda r: r.get("test/acc") or 0, reverse=True)
    lines = [
        "| " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for run in runs:
        if "model_config" in run:  # metrics.json before 2026-12-02: model was the backbone
            run = {**run, "model": run["model_config"], "backbone": run.get("model")}
        if run.get("stn"):
            run = {**run, "backbone": f"stn + {run['backbone']}"}
        cells = [
            fmt.format(run[key]) if run.get(key) is not None else "-" for key, _, fmt in COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def group_by_configuration(runs: list[Run], ignore: tuple[str, ...] = ()) -> list[Group]:
    """Runs whose configuration is equal apart from the seeds, the paths and the settings
    under the dotted prefixes `ignore`, in first-seen order. A run without its config.yaml
    is a group of its own."""
    groups: dict[str, Group] = {}
    for run in runs:
        if run.config is None:
            key = f"<no config.yaml: {run.folder}>"
        else:
            settings = flat(comparable(run.config, without_seed=True, without_locations=True))
            kept = {
                k: v
                for k, v in settings.items()
                if not any(k == p or k.startswith(p + ".") for p in ignore)
            }
            key = json.dumps(kept, sort_keys=True, default=str)
        groups.setdefault(key, Group(key)).runs.append(run)
    return list(groups.values())


def describe(
    values: list[float], bounds: tuple[float, float] | None = None
) -> dict[str, float | int | None]:
    """n, mean, sample standard deviation and the 95 % t-interval of the mean, cut to
    `bounds` where given (two seeds 0.3 points apart near 99.8 % give a t-interval past
    100 %, which no accuracy can reach)."""
    n = len(values)
    mean = statistics.fmean(values) if values else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "std": None, "ci_low": None, "ci_high": None}
    std = statistics.stdev(values)
    if std == 0:  # every run the same: the interval is that value (scipy would give nan)
        return {"n": n, "mean": mean, "std": 0.0, "ci_low": mean, "ci_high": mean}
    low, high = stats.t.interval(0.95, df=n - 1, loc=mean, scale=std / math.sqrt(n))
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"n": n, "mean": mean, "std": std, "ci_low": float(low), "ci_high": float(high)}


def group_labels(groups: list[Group]) -> list[str]:
    """Each group named by the fewest settings that tell the groups apart: the model and
    the data type where they differ (else the model name), then up to four other settings
    that differ, one at a time, until every label is distinct."""
    flats = [flat(json.loads(g.key)) if not g.key.startswith("<") else {} for g in groups]
    keys = sorted({k for f in flats for k in f})
    varying = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flats}) > 1]
    shown = [k for k in ("model.name", "data.preprocessing") if k in varying]
    if not shown and "model.name" in keys:
        shown = ["model.name"]
    # callbacks and loggers only when nothing else tells the groups apart
    quiet = ("callbacks.", "logger.", "hydra")
    others = [k for k in varying if k not in shown and not k.startswith(quiet)]
    others += [k for k in varying if k not in shown and k.startswith(quiet)]

    def label(group: Group, values: dict[str, Any], keys: list[str]) -> str:
        if group.key.startswith("<"):
            return group.key
        return ", ".join(f"{_short(k)}={values.get(k)}" for k in keys) or "all runs"

    for key in others[:6]:
        if len({label(g, f, shown) for g, f in zip(groups, flats, strict=True)}) == len(groups):
            break
        shown.append(key)
    return [label(g, f, shown) for g, f in zip(groups, flats, strict=True)]


def _short(key: str) -> str:
    """A setting's name in a label: its last part (lr), two parts where the last alone says
    little (time_budget._target_)."""
    parts = key.split(".")
    return ".".join(parts[-2:]) if parts[-1].startswith("_") and len(parts) > 1 else parts[-1]


def seeds_table(groups: list[Group]) -> str:
    """One Markdown row per configuration: n, then mean ± std [95 % CI] of each metric."""
    header = ["configuration", "n", "seeds"]
    for _, title in SUMMARISED:
        header += [f"{title} mean ± std", f"{title} 95 % CI"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = []
    for group, label in zip(groups, group_labels(groups), strict=True):
        seeds = ", ".join(str(r.metrics.get("seed", "?")) for r in group.runs)
        cells = [label, str(len(group.runs)), seeds]
        summary = {}
        for key, _ in SUMMARISED:
            d = summary[key] = group.summary(key)
            if not d["n"]:
                cells += ["-", "-"]
                continue
            spread = f" ± {d['std']:.2%}" if d["std"] is not None else ""
            cells.append(f"{d['mean']:.2%}{spread}")
            cells.append(
                f"{d['ci_low']:.2%} - {d['ci_high']:.2%}" if d["ci_low"] is not None else "-"
            )
        rows.append((summary["test/acc"]["mean"], cells))
    for _, cells in sorted(rows, key=lambda row: -(row[0] if row[0] == row[0] else -1)):
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_pairs_table(groups: list[Group], key: str = "test/acc") -> str:
    """Per pair of configurations with 2+ seeds each: the difference of their mean `key`
    and Welch's t-test of it over the seeds (scipy.stats.ttest_ind, equal_var=False): is
    the difference larger than seed-to-seed noise? (`tsr.compare` asks the other question,
    whether two fixed models differ beyond the test set's sampling noise.)"""
    labelled = [
        (label, g.values(key)) for g, label in zip(groups, group_labels(groups), strict=True)
    ]
    labelled = sorted(
        ((label, v) for label, v in labelled if len(v) >= 2),
        key=lambda lv: -statistics.fmean(lv[1]),
    )
    lines = [
        "| A | B | mean A - mean B | Welch t | p | differs at 0.05 |",
        "|---|---|---|---|---|---|",
    ]
    for i, (label_a, a) in enumerate(labelled):
        for label_b, b in labelled[i + 1 :]:
            test = stats.ttest_ind(a, b, equal_var=False)
            diff = statistics.fmean(a) - statistics.fmean(b)
            p = float(test.pvalue)
            lines.append(
                f"| {label_a} | {label_b} | {diff * 100:+.2f} points | "
                f"{float(test.statistic):.2f} | {p:.3g} | {'yes' if p < 0.05 else 'no'} |"
            )
    return "\n".join(lines)
