"""What a sweep found: best trial, top-k table, parameter importances, a retrain command.

Written to the sweep's folder as `summary.md`, `summary.json` and `best_overrides.txt`
(the winning trial's training overrides, one per line:
`python -m tsr.train $(cat logs/sweeps/<study>/best_overrides.txt)` retrains it).
"""

from __future__ import annotations

import logging
import statistics
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tsr.io.atomic import write_json, write_text_atomic
from tsr.sweeps.study import ERROR, SweepSettings, state_counts

log = logging.getLogger(__name__)


def _value(trial: FrozenTrial, metric: str) -> float | None:
    """A trial's result: its value, or for a pruned one the best it reached."""
    if trial.value is not None:
        return trial.value
    best = trial.user_attrs.get(metric)
    return float(best) if best is not None else None


def ranked_trials(study: optuna.Study, settings: SweepSettings) -> list[FrozenTrial]:
    """Complete and pruned trials, best first (pruned ones ranked by what they reached)."""
    trials = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        and _value(t, settings.metric) is not None
    ]
    reverse = settings.direction == "maximize"
    # a complete trial beats a pruned one of equal value
    return sorted(
        trials,
        key=lambda t: (_value(t, settings.metric), t.state == TrialState.COMPLETE),
        reverse=reverse,
    )


def importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's default evaluator (PED-ANOVA) over the complete trials; {} if too few."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 3:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError) as exc:  # e.g. a parameter with a single value
        log.warning("parameter importances unavailable: %s", exc)
        return {}


def by_choice(ranked: list[FrozenTrial], settings: SweepSettings) -> dict[str, list[dict]]:
    """For each categorical parameter: per choice, how many trials, the best and the median
    result (complete and pruned trials; a pruned trial counts with what it reached)."""
    table: dict[str, list[dict]] = {}
    for param in settings.params:
        if param.type != "categorical":
            continue
        rows = []
        for choice in param.choices:
            values = sorted(
                _value(t, settings.metric) for t in ranked if t.params.get(param.name) == choice
            )
            if not values:
                continue
            best = values[-1] if settings.direction == "maximize" else values[0]
            rows.append(
                {
                    "choice": choice,
                    "trials": len(values),
                    "best": best,
                    "median": statistics.median(values),
                }
            )
        table[param.name] = rows
    return table


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def summarize(study: optuna.Study, settings: SweepSettings, sweep_dir: Path) -> dict[str, Any]:
    """Build the summary, write its three files, and return it."""
    ranked = ranked_trials(study, settings)
    names = [p.name for p in settings.params]
    complete = [t for t in ranked if t.state == TrialState.COMPLETE]
    best = complete[0] if complete else None
    summary: dict[str, Any] = {
        "study_name": settings.study_name,
        "metric": settings.metric,
        "direction": settings.direction,
        "n_trials": settings.n_trials,
        "states": state_counts(study),
        "best": None,
        "top": [],
        "importances": importances(study),
        "by_choice": by_choice(ranked, settings),
        "failed": [
            {"number": t.number, "params": t.params, "error": t.user_attrs[ERROR]}
            for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if ERROR in t.user_attrs
        ],
    }
    for trial in ranked[: settings.top_k]:
        summary["top"].append(
            {
                "number": trial.number,
                "state": trial.state.name,
                "value": _value(trial, settings.metric),
                "params": trial.params,
                "epochs": trial.user_attrs.get("epochs"),
                "seconds": trial.duration.total_seconds() if trial.duration else None,
            }
        )
    if best is not None:
        overrides = list(best.user_attrs.get("overrides", []))
        summary["best"] = {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "overrides": overrides,
            "output_dir": best.user_attrs.get("output_dir"),
        }
        write_text_atomic(sweep_dir / "best_overrides.txt", "\n".join(overrides) + "\n")
    write_json(sweep_dir / "summary.json", summary)
    write_text_atomic(sweep_dir / "summary.md", markdown(summary, names, sweep_dir))
    return summary


def markdown(summary: dict[str, Any], names: list[str], sweep_dir: Path) -> str:
    metric = summary["metric"]
    lines = [f"# Sweep `{summary['study_name']}`", ""]
    states = ", ".join(f"{n} {state}" for state, n in sorted(summary["states"].items()))
    lines += [f"Trials: {states or 'none'} (budget {summary['n_trials']}).", ""]
    best = summary["best"]
    if best:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best["params"].items())
        lines += [
            f"Best: trial {best['number']}, {metric} = {best['value']:.4f} ({params}).",
            "",
            "Retrain it: `python -m tsr.train $(cat "
            f"{sweep_dir / 'best_overrides.txt'})` (add e.g. `trainer.max_epochs=30`).",
            "",
        ]
    if summary["top"]:
        header = ["trial", "state", metric, *names, "epochs", "s"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in summary["top"]:
            cells = [
                str(row["number"]),
                row["state"].lower(),
                f"{row['value']:.4f}",
                *(_fmt(row["params"].get(name, "-")) for name in names),
                _fmt(row["epochs"]) if row["epochs"] is not None else "-",
                f"{row['seconds']:.0f}" if row["seconds"] is not None else "-",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if summary["importances"]:
        lines += ["Parameter importances (PED-ANOVA, complete trials):", ""]
        lines += ["| parameter | importance |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in summary["importances"].items()]
        lines.append("")
    for name, rows in summary["by_choice"].items():
        if len(rows) < 2:
            continue
        lines += [f"By {name} (complete and pruned trials):", ""]
        lines += [f"| {name} | trials | best {metric} | median |", "|---|---|---|---|"]
        lines += [
            f"| {row['choice']} | {row['trials']} | {row['best']:.4f} | {row['median']:.4f} |"
            for row in rows
        ]
        lines.append("")
    if summary["failed"]:
        lines += ["Failed trials:", ""]
        lines += [f"- trial {f['number']} ({f['params']}): {f['error']}" for f in summary["failed"]]
        lines.append("")
    return "\n".join(lines)
