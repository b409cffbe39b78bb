"""A model on the corrupted test set (tsr.data.corruptions): accuracy per corruption and
severity, the mean corruption accuracy (mCA), and, given a baseline model's report, the
corruption errors relative to it (CE per corruption, their mean mCE), as ImageNet-C relates
every model to AlexNet. tsr's baseline is `lenet`: evaluate it with `robustness=true` and
pass its report.json as `robustness_baseline=`.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from tsr.data.corruptions import (
    CORRUPTIONS,
    SEVERITIES,
    corrupted_test_set,
    fingerprint,
)
from tsr.data.preprocessing import preprocess
from tsr.data.split import stratified_sample
from tsr.errors import ConfigError
from tsr.inference.forward import logits_of
from tsr.io.progress import progress_bar
from tsr.models.module import SignClassifier


def _accuracy(
    model: SignClassifier, rgb: np.ndarray, labels: np.ndarray, data_type: str, batch: int
) -> float:
    logits = logits_of(model, preprocess(rgb, data_type), batch)
    return float((logits.argmax(dim=1).numpy() == labels).mean())


def robustness_report(
    model: SignClassifier,
    rgb_test: np.ndarray,
    labels: np.ndarray,
    data_type: str,
    cache_dir: Path,
    images: int | None,
    batch_size: int,
    baseline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`baseline`: a baseline's robustness section (load_baseline), for CE and mCE."""
    indices = stratified_sample(labels, images)
    clean, truth = rgb_test[indices], labels[indices]
    sets = corrupted_test_set(cache_dir, clean)
    accuracy: dict[str, list[float]] = {}
    with progress_bar("evaluate on the corrupted test set", total=len(sets)) as advance:
        for kind in CORRUPTIONS:
            accuracy[kind] = []
            for severity in SEVERITIES:
                accuracy[kind].append(
                    _accuracy(model, sets[(kind, severity)], truth, data_type, batch_size)
                )
                advance(1)
    report: dict[str, Any] = {
        "images": len(indices),
        "sample": fingerprint(clean),
        "clean_accuracy": _accuracy(model, clean, truth, data_type, batch_size),
        "accuracy": accuracy,
        "groups": {kind: group for kind, (group, _) in CORRUPTIONS.items()},
        "mean_corruption_accuracy": statistics.fmean(a for row in accuracy.values() for a in row),
    }
    if baseline:
        report.update(relative_to(report, baseline))
    return report


def load_baseline(baseline: str) -> dict[str, Any]:
    """The robustness section of a baseline's report.json; read before any evaluation (a
    bad file was found after minutes of corrupting and scoring the test set)."""
    try:
        base = json.loads(Path(baseline).read_text())["robustness"]
        if not isinstance(base, dict) or not isinstance(base.get("accuracy"), dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(
            f"robustness_baseline={baseline} is not a tsr.evaluate report.json with a robustness "
            "section; evaluate the baseline (lenet) with robustness=true and pass its report.json"
        ) from None
    return {**base, "path": str(baseline)}


def relative_to(report: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """CE per corruption = the model's errors summed over severities / the baseline's
    (`base`: load_baseline's)."""
    baseline, path = base["path"], Path(base["path"])
    if base.get("sample") != report["sample"]:
        raise ConfigError(
            f"robustness_baseline={baseline} was measured on another corrupted set "
            f"({base.get('images')} images, sample {base.get('sample')}); evaluate both with the "
            "same robustness_images and data"
        )
    ce = {}
    for kind, row in report["accuracy"].items():
        base_errors = sum(1 - a for a in base["accuracy"][kind])
        ce[kind] = sum(1 - a for a in row) / base_errors if base_errors else float("nan")
    return {
        "baseline": str(path),
        "corruption_error": ce,
        "mean_corruption_error": statistics.fmean(ce.values()),
    }
