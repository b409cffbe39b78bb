"""The statistics of rigorous comparisons against values computed by hand: McNemar's exact
test, the bootstrap interval of an accuracy difference, expected calibration error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tsr.metrics.calibration import calibration_report
from tsr.reporting.comparison import Evaluated, compare_pair, mcnemar_exact


def test_mcnemar_exact_by_hand() -> None:
    # 10 images only A gets right, 2 only B: p = 2 * P(X <= 2), X ~ Binomial(12, 1/2)
    assert mcnemar_exact(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert mcnemar_exact(2, 10) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert mcnemar_exact(5, 5) == pytest.approx(1.0)
    assert mcnemar_exact(0, 0) == 1.0


def _evaluated(name: str, correct: np.ndarray) -> Evaluated:
    return Evaluated(name, Path(name), correct, np.zeros(len(correct), np.int64))


def test_a_pair_counts_discordant_images_and_brackets_the_difference() -> None:
    n = 2000
    a = np.ones(n, bool)
    b = np.ones(n, bool)
    a[:10] = False  # A wrong on 10 images B gets right
    b[10:50] = False  # B wrong on 40 images A gets right
    row = compare_pair(_evaluated("a", a), _evaluated("b", b))
    assert (row["only_a_right"], row["only_b_right"]) == (40, 10)
    assert row["difference"] == pytest.approx((40 - 10) / n)
    low, high = row["difference_ci95"]
    assert low < row["difference"] < high and low > 0  # A is better, and the CI says so
    assert row["mcnemar_p"] < 1e-4


def test_identical_models_are_not_different() -> None:
    correct = np.random.default_rng(0).random(1000) < 0.9
    row = compare_pair(_evaluated("a", correct), _evaluated("b", correct.copy()))
    assert row["mcnemar_p"] == 1.0 and row["difference"] == 0.0
    assert row["difference_ci95"] == [0.0, 0.0]  # was [nan, nan]: BCa on a constant


def test_ece_of_a_calibrated_and_an_overconfident_model() -> None:
    g = torch.Generator().manual_seed(0)
    n = 200_000
    confidence = torch.rand(n, generator=g) * 0.5 + 0.5
    probs = torch.stack([confidence, 1 - confidence], 1)
    labels = (torch.rand(n, generator=g) >= confidence).long()  # class 0 with p = confidence
    assert calibration_report(probs, labels)["ece"] < 0.005
    # says 99 % and is right 80 % of the time: ECE = 0.19
    probs = torch.tensor([[0.99, 0.01]]).repeat(n, 1)
    labels = (torch.rand(n, generator=g) >= 0.8).long()
    report = calibration_report(probs, labels)
    assert report["ece"] == pytest.approx(0.19, abs=0.005)
    full = [b for b in report["bins"] if b["count"]]
    assert len(full) == 1 and full[0]["confidence"] == pytest.approx(0.99)
