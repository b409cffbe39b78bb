"""A checkpoint's model on the official GTSRB test set (or its run's validation tracks):
accuracy, loss, per-class precision/recall/F1, confusion matrix and most confident mistakes
(figures), report.json.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tsr.data.cache import save_npz_atomic
from tsr.data.datamodule import GtsrbDataModule
from tsr.data.gtsrb import Split
from tsr.errors import ConfigError
from tsr.inference.checkpoint import Classifier, ValidationSplit, load_committee
from tsr.inference.forward import logits_of, probabilities_of
from tsr.inference.metrics import classification_report
from tsr.inference.robustness import load_baseline, robustness_report
from tsr.inference.settings import check_command
from tsr.io.atomic import save_figure, write_csv, write_json
from tsr.io.progress import progress_bar
from tsr.metrics.calibration import calibration_report
from tsr.reporting.comparison import PREDICTIONS_FILE
from tsr.tensorboard.figures import (
    confusion_figure,
    mistakes_figure,
    per_class_accuracy_figure,
    reliability_figure,
    robustness_figure,
)

log = logging.getLogger(__name__)


def _worst_mistakes(probs: torch.Tensor, labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` wrong predictions with the highest confidence."""
    confidence, predicted = probs.max(dim=1)
    wrong = np.flatnonzero(predicted.numpy() != labels)
    order = np.argsort(-confidence.numpy()[wrong], kind="stable")
    return wrong[order][:count]


def _images(
    cfg: DictConfig, kind: tuple[str, int, float | None], validation: ValidationSplit | None
) -> Split:
    """The official test split, or with `validation` the held-out tracks of the training set,
    prepared as the data type at the image size of `kind`, cropped to the signs' boxes when
    the model trained so (from the cache)."""
    data_type, image_size, roi_crop = kind
    split = (
        {}
        if validation is None
        else {"val_fraction": validation.val_fraction, "split_seed": validation.split_seed}
    )
    datamodule = GtsrbDataModule(
        data_dir=cfg.data_dir,
        mirror=cfg.mirror,
        preprocessing=data_type,
        image_size=image_size,
        roi_crop=roi_crop,
        **split,
    )
    if validation is None:
        return datamodule.load().test
    return datamodule.load().train.subset(datamodule.split_indices()[1])


def _validation(cfg: DictConfig, members: list[Classifier]) -> ValidationSplit | None:
    """For split=val, the one validation split of every member (ConfigError, before any data
    is read, when a checkpoint does not record it, trained on it, or members differ)."""
    if cfg.split != "val":
        return None
    if cfg.robustness:
        raise ConfigError("robustness=true corrupts the official test set: use split=test")
    for member in members:
        if member.validation is None:
            raise ConfigError(
                f"{member.path} does not record its run's validation split (written before "
                "tsr saved the data settings in checkpoints): evaluate it with split=test, "
                "or retrain it"
            )
        if member.validation.train_on_val:
            raise ConfigError(
                f"{member.path} was trained on its validation tracks too "
                "(data.train_on_val=true), so split=val would score training images: use "
                "split=test, or a run without data.train_on_val"
            )
    splits = {m.validation for m in members}
    if len(splits) > 1:
        raise ConfigError(
            "split=val needs the members to share one validation split; they hold out "
            + ", ".join(sorted(v.describe() for v in splits))
            + ": evaluate them with split=test"
        )
    return members[0].validation


def _roi_crop(cfg: DictConfig, classifier: Classifier) -> float | None:
    """The margin the images are cropped to their signs with (None: whole images): the
    checkpoint's, unless `roi_crop=` frames them otherwise."""
    crop = cfg.get("roi_crop")
    if crop is None:
        return classifier.roi_crop
    return None if crop == "whole" else float(crop)


def _framing(crop: float | None) -> str:
    return "whole images" if crop is None else f"images cropped to the sign + {crop:g} x its size"


def _input_kind(cfg: DictConfig, classifier: Classifier) -> tuple[str, int, float | None]:
    return classifier.data_type, classifier.image_size, _roi_crop(cfg, classifier)


def _member_logits(classifier: Classifier, cfg: DictConfig, test: Any, advance) -> torch.Tensor:
    """One model's logits on `test` (with TTA: the log of its averaged probabilities,
    which softmax gives back)."""
    if cfg.tta:
        probs = probabilities_of(classifier.model, test.images, cfg.batch_size, True, advance)
        return probs.clamp_min(1e-12).log()
    return logits_of(classifier.model, test.images, cfg.batch_size, advance)


def _committee(
    members: list[Classifier], member_logits: list[torch.Tensor], labels: np.ndarray
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The committee's answer: the mean of the members' probabilities (Ciresan et al. 2012),
    as logits (log-probabilities); and what it fixes and breaks against its best member."""
    probs = torch.stack([logits.softmax(dim=1) for logits in member_logits]).mean(dim=0)
    correct = [(logits.argmax(dim=1).numpy() == labels) for logits in member_logits]
    accuracy = [float(c.mean()) for c in correct]
    best = int(np.argmax(accuracy))
    committee_right = probs.argmax(dim=1).numpy() == labels
    summary = {
        "members": [
            {
                "checkpoint": str(m.path),
                "model": m.model.hparams.get("name") or m.model.hparams["backbone"],
                "data_type": m.data_type,
                "accuracy": accuracy[i],
            }
            for i, m in enumerate(members)
        ],
        "best_member": best,
        "fixed": int(np.sum(committee_right & ~correct[best])),  # right now, wrong alone
        "broken": int(np.sum(~committee_right & correct[best])),
    }
    return probs.clamp_min(1e-12).log(), summary


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate `cfg.ckpt` (one checkpoint, or a list: a committee averaging the members'
    probabilities) on the test split (or split=val: its run's validation tracks); write the
    outputs; return the report."""
    check_command("evaluate", cfg)  # every option, before anything is read
    if cfg.robustness_baseline and not cfg.robustness:
        raise ConfigError(
            "robustness_baseline= compares a robustness evaluation with a baseline's: add "
            "robustness=true (or drop robustness_baseline)"
        )
    baseline = load_baseline(cfg.robustness_baseline) if cfg.robustness_baseline else None
    members = load_committee(
        cfg.ckpt, cfg.device, cfg.get("data_type"), cfg.calibrated, cfg.raw_weights
    )
    if len(members) > 1 and cfg.robustness:
        raise ConfigError("robustness=true takes one checkpoint; evaluate the members one by one")
    validation = _validation(cfg, members)
    split_name = (
        "official test set"
        if validation is None
        else (f"validation tracks ({validation.describe()})")
    )
    classifier = members[0]
    output_dir = Path(cfg.output_dir)
    start = time.perf_counter()
    # each member sees the images as its own data type and size (read once per kind)
    tests = {
        kind: _images(cfg, kind, validation) for kind in {_input_kind(cfg, m) for m in members}
    }
    test = tests[_input_kind(cfg, classifier)]
    with progress_bar(f"evaluate on the {split_name}", total=None) as advance:
        member_logits = [
            _member_logits(m, cfg, tests[_input_kind(cfg, m)], advance) for m in members
        ]
    seconds = time.perf_counter() - start
    committee = None
    if len(members) > 1:
        logits, committee = _committee(members, member_logits, test.labels)
    else:
        logits = member_logits[0]
    names = classifier.class_names
    report = classification_report(logits, test.labels, names)
    probs = logits.softmax(dim=1)
    worst = _worst_mistakes(probs, test.labels, max(0, int(cfg.mistakes)))
    confidence, predicted = probs.max(dim=1)
    calibration = calibration_report(probs, torch.from_numpy(test.labels))
    temperature = float(classifier.model.temperature)
    if classifier.model.calibrated and not cfg.tta and committee is None:  # before / after
        raw = (logits * temperature).softmax(dim=1)
        calibration["ece_before_scaling"] = calibration_report(raw, torch.from_numpy(test.labels))[
            "ece"
        ]
    hparams = classifier.model.hparams
    report = {
        "checkpoint": str(classifier.path) if committee is None else [str(m.path) for m in members],
        "model": (hparams.get("name") or hparams["backbone"])
        if committee is None
        else "committee of " + ", ".join(m["model"] for m in committee["members"]),
        "backbone": hparams["backbone"],
        "stn": bool(hparams.get("stn", False)),
        "data_type": classifier.data_type,
        "image_size": classifier.image_size,
        "roi_crop": _roi_crop(cfg, classifier),  # the images' framing here
        "roi_crop_trained": classifier.roi_crop,  # and the training images'
        "roi_margin_trained": classifier.roi_margin,  # its framing jitter's range, if any
        "tta": bool(cfg.tta),
        "calibrated": bool(cfg.calibrated),
        "raw_weights": bool(cfg.raw_weights),
        "temperature": temperature,
        "split": split_name,
        "device": str(classifier.device),
        "seconds": round(seconds, 3),
        "images_per_second": round(len(test) / seconds, 1) if seconds > 0 else None,
        **report,
        "calibration": calibration,
        **({"committee": committee} if committee else {}),
        # per-image probabilities and labels, for tsr.compare (paired tests between models)
        "predictions_file": PREDICTIONS_FILE,
        # test_index i is GTSRB/Final_Test/Images/{i:05d}.ppm (GT-final_test.csv order); on
        # split=val, track t is GTSRB/Final_Training/Images/{t // 100000:05d}/{t % 100000:05d}_*
        "worst_mistakes": [
            {
                **(
                    {"test_index": int(i)} if validation is None else {"track": int(test.tracks[i])}
                ),
                "true": int(test.labels[i]),
                "true_name": names[test.labels[i]],
                "predicted": int(predicted[i]),
                "predicted_name": names[int(predicted[i])],
                "confidence": float(confidence[i]),
            }
            for i in worst
        ],
    }
    if cfg.robustness:
        rgb = (
            GtsrbDataModule(
                data_dir=cfg.data_dir,
                mirror=cfg.mirror,
                preprocessing="rgb",
                image_size=classifier.image_size,
                roi_crop=_roi_crop(cfg, classifier),
            )
            .load()
            .test
        )
        report["robustness"] = robustness_report(
            classifier.model,
            rgb.images,
            rgb.labels,
            classifier.data_type,
            Path(cfg.data_dir),
            cfg.robustness_images,
            cfg.batch_size,
            baseline,
        )
    _write_outputs(output_dir, report, test.images, worst, names)
    save_npz_atomic(
        output_dir / PREDICTIONS_FILE,
        probabilities=probs.numpy().astype(np.float32),
        labels=test.labels,
    )
    _print_summary(report, output_dir)
    return report


def _write_outputs(
    output_dir: Path,
    report: dict[str, Any],
    images: np.ndarray,
    worst: np.ndarray,
    names: tuple[str, ...],
) -> None:
    matrix = np.asarray(report["confusion_matrix"])
    recall = np.array([row["recall"] for row in report["per_class"]])
    save_figure(output_dir / "confusion_matrix.png", confusion_figure(matrix, names))
    save_figure(output_dir / "per_class_recall.png", per_class_accuracy_figure(recall, names))
    calibration = report["calibration"]
    figure = reliability_figure(calibration["bins"], calibration["ece"], report["model"])
    save_figure(output_dir / "reliability.png", figure)
    robust = report.get("robustness")
    if robust:
        figure = robustness_figure(robust["accuracy"], robust["clean_accuracy"], report["model"])
        save_figure(output_dir / "robustness.png", figure)
    if len(worst):
        mistakes = report["worst_mistakes"]
        figure = mistakes_figure(
            torch.from_numpy(images[worst]).permute(0, 3, 1, 2),
            [m["true"] for m in mistakes],
            [m["predicted"] for m in mistakes],
            [m["confidence"] for m in mistakes],
            names,
        )
        save_figure(output_dir / "worst_mistakes.png", figure)
    write_csv(
        output_dir / "per_class.csv",
        ["class_id", "name", "support", "precision", "recall", "f1"],
        (
            [
                r["class_id"],
                r["name"],
                r["support"],
                *(f"{r[k]:.6f}" for k in ("precision", "recall", "f1")),
            ]
            for r in report["per_class"]
        ),
    )
    write_json(output_dir / "report.json", report)


def _print_summary(report: dict[str, Any], output_dir: Path) -> None:
    title = f"tsr evaluate: {report['model']} on {report['data_type']}, {report['split']}"
    table = Table(title=escape(title))
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("images", f"{report['images']:,}")
    if report["roi_crop"] != report["roi_crop_trained"]:
        table.add_row(
            "framing",
            f"{_framing(report['roi_crop'])} (trained on {_framing(report['roi_crop_trained'])})",
        )
    table.add_row("accuracy", f"{report['accuracy']:.2%}")
    table.add_row("loss", f"{report['loss']:.4f}")
    for key in ("precision", "recall", "f1"):
        table.add_row(f"macro {key}", f"{report['macro'][key]:.2%}")
    table.add_row("ECE (15 bins)", f"{report['calibration']['ece']:.2%}")
    robust = report.get("robustness")
    if robust:
        table.add_row(
            f"corrupted ({robust['images']:,} images)",
            f"mCA {robust['mean_corruption_accuracy']:.2%} (clean {robust['clean_accuracy']:.2%})",
        )
        worst_kind = min(robust["accuracy"], key=lambda k: sum(robust["accuracy"][k]))
        table.add_row(
            "hardest corruption", f"{worst_kind} {min(robust['accuracy'][worst_kind]):.2%}"
        )
        if "mean_corruption_error" in robust:
            table.add_row("mCE vs baseline", f"{robust['mean_corruption_error']:.1%}")
    worst = sorted(report["per_class"], key=lambda r: r["f1"])[:3]
    table.add_row(
        "lowest F1",
        "; ".join(f"{r['class_id']} {escape(r['name'])} {r['f1']:.0%}" for r in worst),
    )
    Console().print(table)
    log.info("report, figures and per-class CSV written to %s", output_dir)
