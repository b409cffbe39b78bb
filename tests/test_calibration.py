"""Temperature scaling: fitted after training on the validation split, stored in the best
checkpoint, used by tsr.evaluate / predict / export with calibrated=true."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tsr.inference.checkpoint import load_classifier
from tsr.inference.evaluation import evaluate
from tsr.metrics.calibration import calibration_report, fit_temperature

from .test_evaluate import compose_evaluate


def test_fit_temperature_recovers_a_known_temperature() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(20_000, 10, generator=g) * 1.5
    labels = torch.multinomial(z.softmax(1), 1, generator=g).squeeze(1)  # calibrated at T=1
    assert fit_temperature(3 * z, labels) == pytest.approx(3.0, rel=0.03)  # 3x over-confident
    before = calibration_report((3 * z).softmax(1), labels)["ece"]
    after = calibration_report((3 * z / fit_temperature(3 * z, labels)).softmax(1), labels)["ece"]
    assert before > 0.2 and after < 0.02


def test_a_run_fits_and_stores_its_temperature(tiny_run: dict) -> None:
    t = tiny_run["temperature"]
    assert 0.05 < t < 20
    assert tiny_run["val/ece_scaled"] <= tiny_run["val/ece"] + 0.01
    state = torch.load(tiny_run["checkpoint"], map_location="cpu", weights_only=True)["state_dict"]
    assert float(state["temperature"]) == pytest.approx(t)


def test_calibrated_evaluation_changes_confidence_not_answers(
    tmp_path: Path, cache_dir: Path, mirror: Path, tiny_run: dict
) -> None:
    ckpt = tiny_run["checkpoint"]
    plain = evaluate(
        compose_evaluate(tmp_path / "a", cache_dir, mirror, f"ckpt={ckpt}", "mistakes=0")
    )
    scaled = evaluate(
        compose_evaluate(
            tmp_path / "b", cache_dir, mirror, f"ckpt={ckpt}", "mistakes=0", "calibrated=true"
        )
    )
    assert scaled["accuracy"] == plain["accuracy"]
    assert scaled["temperature"] == pytest.approx(tiny_run["temperature"])
    assert scaled["calibration"]["ece_before_scaling"] == pytest.approx(plain["calibration"]["ece"])
    assert scaled["calibration"]["ece"] == pytest.approx(tiny_run["test/ece_scaled"], abs=1e-4)
    model = load_classifier(ckpt, "cpu", calibrated=True).model
    assert model.calibrated and float(model.temperature) == pytest.approx(tiny_run["temperature"])
