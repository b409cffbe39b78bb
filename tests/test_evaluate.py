"""`python -m tsr.evaluate`: the checkpoint's official test accuracy (as Lightning's test
loop measured it), consistent per-class metrics, the figures and report; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from PIL import Image

from tsr.compare import main as compare_main
from tsr.errors import ConfigError
from tsr.inference.checkpoint import load_classifier
from tsr.inference.evaluation import evaluate
from tsr.training.run import train

from .conftest import CONF_DIR, compose_train, run_tsr


def compose_evaluate(tmp_path: Path, cache_dir: Path, mirror: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(
            "evaluate",
            overrides=[
                f"data_dir={cache_dir}",
                f"mirror={mirror}",
                f"output_dir={tmp_path / 'out'}",
                "device=cpu",
                *overrides,
            ],
        )


@pytest.mark.real_data
def test_evaluate_reports_the_test_accuracy_lightning_measured(
    tmp_path: Path, cache_dir: Path, mirror: Path, tiny_run: dict, gtsrb
):
    cfg = compose_evaluate(tmp_path, cache_dir, mirror, f"ckpt={tiny_run['checkpoint']}")
    report = evaluate(cfg)
    assert report["images"] == 12_630
    assert report["accuracy"] == pytest.approx(tiny_run["test/acc"], abs=1e-6)
    assert report["loss"] == pytest.approx(tiny_run["test/loss"], rel=0.02)  # batch-mean there
    assert report["data_type"] == "clahe" and report["model"] == "lenet"
    matrix = np.array(report["confusion_matrix"])
    assert matrix.sum() == 12_630 and np.trace(matrix) / 12_630 == pytest.approx(report["accuracy"])
    per_class = report["per_class"]
    assert [r["support"] for r in per_class] == np.bincount(
        gtsrb.test.labels, minlength=43
    ).tolist()
    for r in per_class:
        i = r["class_id"]
        assert r["recall"] == pytest.approx(matrix[i, i] / matrix[i].sum())
        if matrix[:, i].sum():
            assert r["precision"] == pytest.approx(matrix[i, i] / matrix[:, i].sum())
    assert report["macro"]["recall"] == pytest.approx(np.mean([r["recall"] for r in per_class]))
    assert report["macro"]["f1"] == pytest.approx(np.mean([r["f1"] for r in per_class]))
    mistakes = report["worst_mistakes"]
    assert len(mistakes) == 25
    assert all(m["true"] != m["predicted"] for m in mistakes)
    confidences = [m["confidence"] for m in mistakes]
    assert confidences == sorted(confidences, reverse=True)
    assert all(gtsrb.test.labels[m["test_index"]] == m["true"] for m in mistakes)
    out = tmp_path / "out"
    assert json.loads((out / "report.json").read_text())["accuracy"] == report["accuracy"]
    assert len((out / "per_class.csv").read_text().splitlines()) == 44
    for name in ("confusion_matrix.png", "per_class_recall.png", "worst_mistakes.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and min(image.size) > 400, name


@pytest.mark.real_data
def test_a_model_trained_on_sign_crops_is_tested_on_sign_crops(
    tmp_path: Path, cache_dir: Path, mirror: Path, roi_run: dict
) -> None:
    """data.roi_crop travels in the checkpoint: tsr.evaluate crops the test images as the
    training run did, so both measure the same accuracy."""
    cfg = compose_evaluate(tmp_path, cache_dir, mirror, f"ckpt={roi_run['best_checkpoint']}")
    report = evaluate(cfg)
    assert report["roi_crop"] == 0.05
    assert report["accuracy"] == pytest.approx(roi_run["test/acc"], abs=1e-6)


@pytest.mark.real_data
def test_roi_crop_frames_the_test_images_otherwise_than_the_training_images(
    tmp_path: Path, cache_dir: Path, mirror: Path, roi_run: dict, capsys
) -> None:
    """roi_crop= measures how much a model depends on the framing of its inputs: the test
    images whole (as GTSRB stores them) or cropped with another margin; the report and the
    table say which; at the training margin it is the plain evaluation."""
    from tsr.data.datamodule import GtsrbDataModule
    from tsr.inference.forward import logits_of

    ckpt = f"ckpt={roi_run['best_checkpoint']}"
    capsys.readouterr()
    whole = evaluate(compose_evaluate(tmp_path / "w", cache_dir, mirror, ckpt, "roi_crop=whole"))
    assert "whole images (trained on images cropped to the sign + 0.05" in capsys.readouterr().out
    assert whole["roi_crop"] is None and whole["roi_crop_trained"] == 0.05
    # the same model on the uncropped official test images, scored here
    classifier = load_classifier(roi_run["best_checkpoint"], "cpu")
    test = (
        GtsrbDataModule(data_dir=cache_dir, mirror=mirror, preprocessing=classifier.data_type)
        .load()
        .test
    )
    right = logits_of(classifier.model, test.images, 1024).argmax(dim=1).numpy() == test.labels
    assert whole["accuracy"] == pytest.approx(right.mean(), abs=1e-6)
    assert abs(whole["accuracy"] - roi_run["test/acc"]) > 1e-3  # other images, other answers
    same = evaluate(compose_evaluate(tmp_path / "s", cache_dir, mirror, ckpt, "roi_crop=0.05"))
    assert "framing" not in capsys.readouterr().out
    assert same["accuracy"] == pytest.approx(roi_run["test/acc"], abs=1e-6)
    wider = evaluate(compose_evaluate(tmp_path / "m", cache_dir, mirror, ckpt, "roi_crop=0.2"))
    assert wider["roi_crop"] == 0.2 and wider["accuracy"] not in (
        whole["accuracy"],
        same["accuracy"],
    )


@pytest.mark.real_data
@pytest.mark.slow  # measured ~15 s: a second tiny run validated on every held-out image
def test_split_val_scores_the_runs_own_validation_tracks(
    tmp_path: Path, cache_dir: Path, mirror: Path, tiny_run: dict, gtsrb
) -> None:
    """split=val rebuilds the held-out tracks of the checkpoint's run from the data settings
    it records (here not the defaults), so it measures what the run's validation measured;
    checkpoints that cannot say, or trained on those tracks, or disagree, are refused before
    any image is read."""
    from tsr.data.split import split_by_track

    from .conftest import train_tiny

    run = train_tiny(
        tmp_path / "run",
        cache_dir,
        mirror,
        "data.val_fraction=0.25",
        "data.split_seed=3",
        "trainer.limit_val_batches=1.0",
        "trainer.limit_test_batches=2",
        # validation runs in the run's precision and tsr.evaluate in fp32: compared image for
        # image only in fp32 (bf16, auto on AMX and Zen 4 hosts, moved 0.06 points of this
        # barely trained net's accuracy)
        "trainer.precision=32-true",
    )
    report = evaluate(
        compose_evaluate(
            tmp_path / "v", cache_dir, mirror, f"ckpt={run['checkpoint']}", "split=val"
        )
    )
    _, val_idx = split_by_track(gtsrb.train.labels, gtsrb.train.tracks, 0.25, 3)
    assert report["images"] == len(val_idx) != 12_630
    assert report["split"] == "validation tracks (data.val_fraction=0.25 data.split_seed=3)"
    assert report["accuracy"] == pytest.approx(run["val/acc_best"], abs=1e-6)
    val_tracks = set(gtsrb.train.tracks[val_idx].tolist())
    assert report["worst_mistakes"] and all(
        m["track"] in val_tracks for m in report["worst_mistakes"]
    )

    payload = torch.load(run["checkpoint"], weights_only=True)
    payload["datamodule_hyper_parameters"]["train_on_val"] = True
    torch.save(payload, tmp_path / "final.ckpt")
    del payload["datamodule_hyper_parameters"]
    torch.save(payload, tmp_path / "old.ckpt")
    refused = {
        str(tmp_path / "final.ckpt"): "trained on its validation tracks too",
        str(tmp_path / "old.ckpt"): "does not record its run's validation split",
        f"[{tiny_run['checkpoint']},{run['checkpoint']}]": "share one validation split",
    }
    for ckpt, message in refused.items():
        cfg = compose_evaluate(tmp_path / "x", cache_dir, mirror, f"ckpt={ckpt}", "split=val")
        with pytest.raises(ConfigError, match=message):
            evaluate(cfg)
    cfg = compose_evaluate(
        tmp_path / "x",
        cache_dir,
        mirror,
        f"ckpt={run['checkpoint']}",
        "split=val",
        "robustness=true",
    )
    with pytest.raises(ConfigError, match="use split=test"):
        evaluate(cfg)
    assert not (tmp_path / "x").exists()  # nothing written


@pytest.mark.slow  # measured 53 s (with the tiny run; TTA on every test image)
def test_evaluate_keeps_predictions_and_calibration_for_compare(
    tmp_path: Path, cache_dir: Path, mirror: Path, tiny_checkpoint: Path, capsys
):
    """Two evaluations (plain and with TTA) of one checkpoint, compared image by image."""
    folders = []
    for name, extra in (("plain", []), ("tta", ["tta=true"])):
        cfg = compose_evaluate(
            tmp_path / name, cache_dir, mirror, f"ckpt={tiny_checkpoint}", *extra
        )
        report = evaluate(cfg)
        out = tmp_path / name / "out"
        with np.load(out / "predictions.npz") as data:
            probs, labels = data["probabilities"], data["labels"]
        assert probs.shape == (report["images"], 43)
        assert (probs.argmax(1) == labels).mean() == pytest.approx(report["accuracy"])
        calibration = report["calibration"]
        assert 0 <= calibration["ece"] < 1 and len(calibration["bins"]) == 15
        assert sum(b["count"] for b in calibration["bins"]) == report["images"]
        with Image.open(out / "reliability.png") as image:
            assert image.format == "PNG"
        folders.append(out)
    compare_main([str(f) for f in folders])
    table = capsys.readouterr().out
    assert "McNemar p" in table and table.count("\n| lenet") == 1
    assert table.rstrip().endswith("python -m tsr.report <run folders>")  # models, not recipes


@pytest.mark.slow  # measured > 5 s (Xeon, 2 cores)
def test_cli_reports_a_bad_checkpoint_in_one_line(tmp_path: Path):
    """(Every kind of bad checkpoint is covered in-process by test_checkpoint.py.)"""
    result = run_tsr("evaluate", f"ckpt={_foreign(tmp_path)}", root=tmp_path, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-2000:]
    assert "is not a tsr checkpoint" in output and "Traceback" not in output
    assert len([line for line in output.splitlines() if "ERROR" in line]) == 1


def _foreign(folder: Path) -> Path:
    path = folder / "model.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    return path


@pytest.mark.slow  # measured ~20 s: a second tiny run, three evaluations
def test_a_committee_averages_its_members(tmp_path: Path, cache_dir, mirror, tiny_run) -> None:
    """Two checkpoints (different data types) as one committee: its probabilities are the
    mean of the members', and it reports each member and what it fixes and breaks."""
    from tsr.training.run import train

    from .conftest import compose_train

    other = train(
        compose_train(
            tmp_path,
            cache_dir,
            mirror,
            "model=lenet",
            "data.preprocessing=gray",
            "debug=fast",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=40",
            "logger=none",
            "trainer.limit_test_batches=2",
            "seed=3",
        ),
        show_summary=False,
    )
    a, b = tiny_run["checkpoint"], other["best_checkpoint"]
    singles = [
        evaluate(compose_evaluate(tmp_path / f"m{i}", cache_dir, mirror, f"ckpt={c}", "mistakes=0"))
        for i, c in enumerate((a, b))
    ]
    report = evaluate(
        compose_evaluate(tmp_path / "c", cache_dir, mirror, f"ckpt=[{a},{b}]", "mistakes=0")
    )
    committee = report["committee"]
    assert [m["accuracy"] for m in committee["members"]] == pytest.approx(
        [s["accuracy"] for s in singles]
    )
    with (
        np.load(tmp_path / "c" / "out" / "predictions.npz") as c,
        np.load(tmp_path / "m0" / "out" / "predictions.npz") as p0,
        np.load(tmp_path / "m1" / "out" / "predictions.npz") as p1,
    ):
        np.testing.assert_allclose(
            c["probabilities"], (p0["probabilities"] + p1["probabilities"]) / 2, atol=1e-5
        )
    best = max(s["accuracy"] for s in singles)
    n = report["images"]
    assert report["accuracy"] == pytest.approx(
        best + (committee["fixed"] - committee["broken"]) / n
    )
    assert report["model"].startswith("committee of lenet")


@pytest.mark.slow
def test_an_ema_checkpoint_gives_its_averaged_or_its_raw_weights(
    tmp_path: Path, cache_dir: Path, mirror: Path, tiny_checkpoint: Path
):
    """A run with Lightning's EMAWeightAveraging (as experiment=accuracy_ema): the best
    checkpoint's averaged weights by default, the raw training weights with raw_weights."""
    cfg = compose_train(
        tmp_path, cache_dir, mirror,
        "debug=fast", "logger=none", "data.jitter.enabled=false",
        "trainer.limit_train_batches=8", "trainer.limit_test_batches=1.0",
        "+callbacks.ema._target_=lightning.pytorch.callbacks.EMAWeightAveraging",
        "+callbacks.ema.decay=0.5",
    )  # fmt: skip
    metrics = train(cfg, show_summary=False)
    best = Path(metrics["best_checkpoint"])
    payload = torch.load(best, map_location="cpu", weights_only=True)
    averaged = load_classifier(best, "cpu").model.state_dict()
    raw = load_classifier(best, "cpu", raw_weights=True).model.state_dict()
    state, current = payload["state_dict"], payload["current_model_state"]
    moved = [
        n for n, v in state.items() if v.is_floating_point() and not torch.equal(v, current[n])
    ]
    assert moved, "8 steps of EMA at decay 0.5 leave the averaged weights where the raw ones are"
    for name in moved:
        assert torch.equal(averaged[name], state[name]), name
        assert torch.equal(raw[name], current[name]), name

    # the test after training scores the averaged weights validation selected, as
    # tsr.evaluate does; raw_weights=true scores the training weights of that step
    out = {}
    for raw_weights in (False, True):
        report = evaluate(
            compose_evaluate(
                tmp_path / str(raw_weights), cache_dir, mirror, f"ckpt={best}",
                f"raw_weights={raw_weights}",
            )
        )  # fmt: skip
        out[raw_weights] = report
    assert out[False]["accuracy"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert out[True]["raw_weights"] and not out[False]["raw_weights"]

    with pytest.raises(ConfigError, match=r"holds one set of weights .* drop raw_weights=true"):
        load_classifier(tiny_checkpoint, "cpu", raw_weights=True)
