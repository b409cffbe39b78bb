"""Paired comparison of evaluated models on the same test images.

For each pair of `tsr.evaluate` outputs: the images only one model gets right, McNemar's
exact test on those discordant pairs (under "equally good", each discordant image is a
fair coin: `scipy.stats.binomtest`, which is the exact McNemar test), and a bootstrap 95 %
interval of the accuracy difference, resampling images with both models' answers kept
together (`scipy.stats.bootstrap`, paired, BCa).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from tsr.errors import ConfigError

PREDICTIONS_FILE = "predictions.npz"
REPORT_FILE = "report.json"


@dataclass(frozen=True)
class Evaluated:
    name: str
    folder: Path
    correct: np.ndarray  # (N,) bool, one per test image
    labels: np.ndarray


def load_evaluated(folder: Path) -> Evaluated:
    """A `tsr.evaluate` output folder (or its report.json)."""
    folder = Path(folder)
    if folder.name == REPORT_FILE:
        folder = folder.parent
    report_file, predictions = folder / REPORT_FILE, folder / PREDICTIONS_FILE
    if not report_file.is_file() or not predictions.is_file():
        raise ConfigError(
            f"{folder} is not a tsr.evaluate output with per-image predictions (it needs "
            f"{REPORT_FILE} and {PREDICTIONS_FILE}); run python -m tsr.evaluate ckpt=... first"
        )
    redo = "evaluate again into a new folder: python -m tsr.evaluate ckpt=... output_dir=..."
    try:
        report = json.loads(report_file.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{report_file}: not readable JSON ({exc}); {redo}") from None
    if not isinstance(report, dict):
        raise ConfigError(f"{report_file}: not a tsr.evaluate report (no JSON object); {redo}")
    try:
        with np.load(predictions, allow_pickle=False) as data:
            arrays = {key: data[key] for key in ("probabilities", "labels") if key in data.files}
    except Exception as exc:  # a cut or foreign file: BadZipFile, EOFError, ValueError, OSError
        reason = str(exc).strip() or type(exc).__name__
        raise ConfigError(
            f"{predictions}: damaged or not a NumPy .npz ({reason}); {redo}"
        ) from None
    missing = sorted({"probabilities", "labels"} - set(arrays))
    if missing:
        raise ConfigError(f"{predictions}: has no {' or '.join(missing)} array; {redo}")
    probs, labels = arrays["probabilities"], arrays["labels"]
    if probs.ndim != 2 or labels.ndim != 1 or len(probs) != len(labels) or not len(labels):
        raise ConfigError(
            f"{predictions}: probabilities {probs.shape} and labels {labels.shape} do not "
            f"describe the same images (one row of class probabilities per label); {redo}"
        )
    if probs.shape[1] < 2 or not np.isfinite(probs).all():
        what = f"{probs.shape[1]} class columns" if probs.shape[1] < 2 else "NaN or inf values"
        raise ConfigError(f"{predictions}: its probabilities have {what}; {redo}")
    name = f"{report.get('model', '?')} ({folder.name})"
    return Evaluated(name, folder, probs.argmax(axis=1) == labels, labels)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts."""
    n = only_a + only_b
    return 1.0 if n == 0 else float(stats.binomtest(only_a, n, 0.5).pvalue)


def compare_pair(
    a: Evaluated, b: Evaluated, resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    if a.labels.shape != b.labels.shape or not np.array_equal(a.labels, b.labels):
        raise ConfigError(f"{a.folder} and {b.folder} were evaluated on different images")
    only_a = int(np.sum(a.correct & ~b.correct))
    only_b = int(np.sum(~a.correct & b.correct))
    diff = float(a.correct.mean() - b.correct.mean())
    if only_a == only_b == 0:  # every resample differs by 0; BCa would give nan
        return _row(a, b, diff, (0.0, 0.0), only_a, only_b)
    result = stats.bootstrap(
        (a.correct.astype(float), b.correct.astype(float)),
        lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
        paired=True,
        n_resamples=resamples,
        confidence_level=0.95,
        method="BCa",
        random_state=np.random.default_rng(seed),
    )
    return _row(a, b, diff, result.confidence_interval, only_a, only_b)


def _row(
    a: Evaluated, b: Evaluated, diff: float, ci: Any, only_a: int, only_b: int
) -> dict[str, Any]:
    low, high = ci
    return {
        "a": a.name,
        "b": b.name,
        "accuracy_a": float(a.correct.mean()),
        "accuracy_b": float(b.correct.mean()),
        "difference": diff,
        "difference_ci95": [float(low), float(high)],
        "only_a_right": only_a,
        "only_b_right": only_b,
        "mcnemar_p": mcnemar_exact(only_a, only_b),
    }


def compare(folders: list[Path]) -> list[dict[str, Any]]:
    if len(folders) < 2:
        raise ConfigError("give two or more tsr.evaluate output folders to compare")
    models = [load_evaluated(f) for f in folders]
    return [compare_pair(a, b) for a, b in itertools.combinations(models, 2)]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| A | B | acc A | acc B | A - B [95 % CI] | only A right | only B right | McNemar p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        low, high = r["difference_ci95"]
        lines.append(
            f"| {r['a']} | {r['b']} | {r['accuracy_a']:.2%} | {r['accuracy_b']:.2%} | "
            f"{r['difference'] * 100:+.2f} [{low * 100:+.2f}, {high * 100:+.2f}] points | "
            f"{r['only_a_right']} | {r['only_b_right']} | {r['mcnemar_p']:.3g} |"
        )
    return "\n".join(lines)
