"""Top-k classes for image files, folders and globs, with per-file errors (one unreadable
file never stops the others), a CSV/JSON of the answers and contact sheets.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tsr.errors import ConfigError, ImageReadError
from tsr.inference.checkpoint import Classifier, load_committee
from tsr.inference.figures import prediction_sheet
from tsr.inference.forward import probabilities_of
from tsr.inference.images import model_input, read_image, thumbnail
from tsr.inference.inputs import collect_inputs, display_name
from tsr.inference.settings import check_command
from tsr.io.atomic import save_figure, write_csv, write_json
from tsr.io.progress import progress_bar

log = logging.getLogger(__name__)
SHEET_MAX_BARS = 10  # a sheet stays legible with top_k=43; the files hold all k


@dataclass
class Prediction:
    input: str
    error: str | None = None
    top: list[dict[str, Any]] = field(default_factory=list)  # class_id, name, probability

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class PredictResult:
    predictions: list[Prediction]
    output_dir: Path
    seconds: float

    @property
    def failed(self) -> list[Prediction]:
        return [p for p in self.predictions if not p.ok]


def _inputs_list(inputs: Any) -> list[str]:
    if isinstance(inputs, ListConfig | list | tuple):
        return [str(i) for i in inputs]
    return [] if inputs in (None, "") else [str(inputs)]


def predict(cfg: DictConfig) -> PredictResult:
    """Classify `cfg.inputs` with `cfg.ckpt`; write the outputs; return every answer."""
    check_command("predict", cfg)  # every option, before anything is read
    inputs = _inputs_list(cfg.inputs)
    if not inputs:
        raise ConfigError("no inputs: pass inputs=<image files, folders or glob patterns>")
    members = load_committee(
        cfg.ckpt, cfg.device, cfg.get("data_type"), cfg.calibrated, cfg.raw_weights
    )
    classifier = members[0]
    for member in members:
        if member.roi_crop is not None:
            border = (
                f"{round(100 * member.roi_crop)} %"
                if member.roi_margin is None
                else "{:g}-{:g} %".format(*(100 * m for m in member.roi_margin))
            )
            log.warning(
                "%s was trained on images cropped to the sign (data.roi_crop=%s%s): it "
                "expects photos cropped around the sign with a border of %s of its size; "
                "other framings lower its accuracy (tsr.evaluate roi_crop= measures by how much)",
                member.path,
                member.roi_crop,
                "" if member.roi_margin is None else f", roi_margin={list(member.roi_margin)}",
                border,
            )
    output_dir = Path(cfg.output_dir)
    predictions: list[Prediction] = []
    # one batch per member: each prepares the image as its own training images were
    batches: list[list[np.ndarray]] = [[] for _ in members]
    previews: list[np.ndarray] = []
    answered: list[Prediction] = []
    entries = collect_inputs(inputs)
    start = time.perf_counter()
    with progress_bar("read images", total=len(entries)) as advance:
        for entry in entries:
            advance(1)
            if entry.error is not None or entry.path is None:
                predictions.append(Prediction(entry.source, error=entry.error))
                log.error("%s", entry.error)
                continue
            prediction = Prediction(display_name(entry.path))
            predictions.append(prediction)
            try:
                rgb = read_image(entry.path, cfg.max_pixels)
            except ImageReadError as exc:
                prediction.error = str(exc)
                log.error("%s", exc)
                continue
            for member, batch in zip(members, batches, strict=True):
                batch.append(model_input(rgb, member.image_size, member.data_type))
            if cfg.sheet and len(previews) < cfg.sheet_max_images:
                previews.append(thumbnail(rgb))  # only what the sheets show stays in memory
            answered.append(prediction)
    if answered:  # a committee averages its members' probabilities
        probs = torch.stack(
            [
                probabilities_of(m.model, np.stack(batch), cfg.batch_size, cfg.tta)
                for m, batch in zip(members, batches, strict=True)
            ]
        ).mean(dim=0)
        k = min(cfg.top_k, probs.shape[1])
        top_probs, top_classes = probs.topk(k, dim=1)
        for prediction, classes, values in zip(
            answered, top_classes.tolist(), top_probs.tolist(), strict=True
        ):
            prediction.top = [
                {"class_id": c, "name": classifier.class_names[c], "probability": p}
                for c, p in zip(classes, values, strict=True)
            ]
    seconds = time.perf_counter() - start
    result = PredictResult(predictions, output_dir, seconds)
    _write_outputs(cfg, members, result, previews, answered)
    _print_table(result, cfg.table_rows)
    return result


def _write_outputs(
    cfg: DictConfig,
    members: list[Classifier],
    result: PredictResult,
    previews: list[np.ndarray],
    answered: list[Prediction],
) -> None:
    out = result.output_dir
    k = max((len(p.top) for p in result.predictions), default=0)
    header = ["input", "error"]
    for rank in range(1, k + 1):
        header += [f"class_{rank}", f"name_{rank}", f"probability_{rank}"]
    rows = []
    for p in result.predictions:
        row: list[Any] = [p.input, p.error or ""]
        for t in p.top:
            row += [t["class_id"], t["name"], f"{t['probability']:.6f}"]
        rows.append(row)
    write_csv(out / "predictions.csv", header, rows)
    write_json(
        out / "predictions.json",
        {
            "checkpoint": str(members[0].path)
            if len(members) == 1
            else [str(m.path) for m in members],
            "data_type": members[0].data_type
            if len(members) == 1
            else [m.data_type for m in members],
            "image_size": members[0].image_size,
            "tta": bool(cfg.tta),
            "images": len(answered),
            "failed": len(result.failed),
            "predictions": [
                {"input": p.input, "error": p.error, "top": p.top} for p in result.predictions
            ],
        },
    )
    if cfg.sheet and answered:
        rows_per, shown = cfg.sheet_rows, min(len(answered), cfg.sheet_max_images)
        if shown < len(answered):
            log.info(
                "sheets show the first %d of %d images (sheet_max_images=%d)",
                shown,
                len(answered),
                cfg.sheet_max_images,
            )
        for page, begin in enumerate(range(0, shown, rows_per), start=1):
            chunk = answered[begin : min(begin + rows_per, shown)]
            figure = prediction_sheet(
                previews[begin : begin + len(chunk)],
                [Path(p.input).name for p in chunk],
                np.array([[t["class_id"] for t in p.top[:SHEET_MAX_BARS]] for p in chunk]),
                np.array([[t["probability"] for t in p.top[:SHEET_MAX_BARS]] for p in chunk]),
                members[0].class_names,
            )
            save_figure(out / f"sheet_{page:03d}.png", figure, dpi=110)


def _print_table(result: PredictResult, limit: int) -> None:
    table = Table(title="tsr predict")
    table.add_column("image", overflow="fold")
    table.add_column("top-1", overflow="fold")
    table.add_column("p", justify="right")
    table.add_column("next", overflow="fold")
    for p in result.predictions[:limit]:
        if not p.ok:
            reason = (p.error or "").removeprefix(f"{p.input}: ")  # the path is in column 1
            table.add_row(escape(p.input), "[red]failed[/red]", "", escape(reason))
            continue
        best, *rest = p.top
        # names come from the checkpoint: printed as text, never as rich markup
        others = "; ".join(f"{escape(t['name'])} {t['probability']:.1%}" for t in rest)
        table.add_row(
            escape(p.input),
            f"{best['class_id']} {escape(best['name'])}",
            f"{best['probability']:.1%}",
            others,
        )
    Console().print(table)
    if len(result.predictions) > limit:
        log.info("%d more rows in predictions.csv", len(result.predictions) - limit)
    answered = len(result.predictions) - len(result.failed)
    log.info(
        "classified %d of %d inputs in %.2f s (%d failed); outputs in %s",
        answered,
        len(result.predictions),
        result.seconds,
        len(result.failed),
        result.output_dir,
    )
