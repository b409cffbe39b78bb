"""The corrupted test set (ImageNet-C style) and tsr.evaluate robustness=true."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tsr.data.corruptions import CORRUPTIONS, SEVERITIES, corrupted_test_set
from tsr.data.gtsrb import Gtsrb
from tsr.data.split import stratified_sample as sample_indices
from tsr.inference.evaluation import evaluate

from .test_evaluate import compose_evaluate


def test_at_least_12_corruptions_in_four_groups() -> None:
    assert len(CORRUPTIONS) >= 12 and SEVERITIES == (1, 2, 3, 4, 5)
    assert {group for group, _ in CORRUPTIONS.values()} == {"noise", "blur", "weather", "digital"}


def test_the_sample_is_stratified_and_seeded(gtsrb: Gtsrb) -> None:
    labels = gtsrb.test.labels
    count = min(200, len(labels) - 1)  # the synthetic test set has 172 images
    a, b = sample_indices(labels, count), sample_indices(labels, count)
    np.testing.assert_array_equal(a, b)
    assert set(labels[a]) == set(labels)  # every class present
    assert len(a) == count and len(sample_indices(labels, 43)) == 43


def test_the_corrupted_set_is_identical_when_rebuilt(gtsrb: Gtsrb, tmp_path: Path) -> None:
    clean = gtsrb.test.images[sample_indices(gtsrb.test.labels, 60)]
    first = corrupted_test_set(tmp_path / "one", clean)
    second = corrupted_test_set(tmp_path / "two", clean)  # built again, not read from cache
    assert first.keys() == second.keys() and len(first) == len(CORRUPTIONS) * 5
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=str(key))
    cached = corrupted_test_set(tmp_path / "one", clean)  # read back from the cache
    np.testing.assert_array_equal(cached[("fog", 3)], first[("fog", 3)])


def test_severity_5_changes_images_more_than_severity_1(gtsrb: Gtsrb) -> None:
    from tsr.data.corruptions import corrupt

    images = gtsrb.test.images[:64]
    for kind in CORRUPTIONS:
        mild, severe = (
            np.abs(corrupt(images, kind, s).astype(int) - images).mean() for s in (1, 5)
        )
        assert severe > mild > 0, kind


def test_evaluate_reports_robustness_and_mce(
    tmp_path: Path, cache_dir: Path, mirror: Path, tiny_checkpoint: Path
) -> None:
    args = [f"ckpt={tiny_checkpoint}", "robustness=true", "robustness_images=43", "mistakes=0"]
    report = evaluate(compose_evaluate(tmp_path / "a", cache_dir, mirror, *args))
    robust = report["robustness"]
    assert robust["images"] == 43 and set(robust["accuracy"]) == set(CORRUPTIONS)
    values = [a for row in robust["accuracy"].values() for a in row]
    assert robust["mean_corruption_accuracy"] == pytest.approx(np.mean(values))
    assert (tmp_path / "a" / "out" / "robustness.png").is_file()
    # against itself as the baseline: every CE is 1 (where the baseline makes errors)
    baseline = tmp_path / "a" / "out" / "report.json"
    again = evaluate(
        compose_evaluate(
            tmp_path / "b", cache_dir, mirror, *args, f"robustness_baseline={baseline}"
        )
    )["robustness"]
    finite = [v for v in again["corruption_error"].values() if v == v]
    assert finite and all(v == pytest.approx(1.0) for v in finite)
    assert json.loads(baseline.read_text())["robustness"]["sample"] == again["sample"]
