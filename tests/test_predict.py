"""`python -m tsr.predict`: raw image files get the same answers as the evaluate path, any
common format reads right, and bad inputs are reported one by one while good ones are
still classified."""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from PIL import Image

from tsr.data.gtsrb import Gtsrb
from tsr.data.preprocessing import preprocess
from tsr.errors import ConfigError, ImageReadError
from tsr.inference.checkpoint import load_classifier
from tsr.inference.forward import logits_of
from tsr.inference.images import read_image
from tsr.inference.prediction import predict

from .conftest import CONF_DIR, TINY_DATA_TYPE, run_tsr
from .crafted_images import bad_inputs, encode, good_inputs


def compose_predict(tmp_path: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(
            "predict",
            overrides=[f"output_dir={tmp_path / 'out'}", "device=cpu", "sheet=false", *overrides],
        )


def _quoted(paths) -> str:
    return "[" + ",".join(f"'{p}'" for p in paths) + "]"


def test_raw_test_files_get_the_evaluate_paths_probabilities(
    tmp_path: Path, tiny_checkpoint: Path, raw_test_images: list, gtsrb: Gtsrb
):
    folder = raw_test_images[0][0].parent
    cfg = compose_predict(tmp_path, f"ckpt={tiny_checkpoint}", f"inputs={folder}", "top_k=43")
    result = predict(cfg)
    assert not result.failed and len(result.predictions) == len(raw_test_images)
    # the evaluate path: the decoded test-set cache, preprocessed, the same model
    classifier = load_classifier(tiny_checkpoint, "cpu")
    indices = [index for _, index, _ in raw_test_images]
    cached = preprocess(gtsrb.test.images[indices], TINY_DATA_TYPE)
    expected = logits_of(classifier.model, cached).softmax(dim=1).numpy()
    for (path, index, label), prediction in zip(raw_test_images, result.predictions, strict=True):
        assert prediction.input == str(path)
        assert gtsrb.test.labels[index] == label
        got = np.zeros(43)
        for entry in prediction.top:
            got[entry["class_id"]] = entry["probability"]
        np.testing.assert_allclose(got, expected[index], atol=1e-6)
        assert prediction.top[0]["class_id"] == int(expected[index].argmax())
        assert prediction.top[0]["name"] == classifier.class_names[expected[index].argmax()]
    saved = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert saved["images"] == 64 and saved["failed"] == 0 and saved["data_type"] == "clahe"
    rows = list(csv.DictReader((tmp_path / "out" / "predictions.csv").open()))
    assert len(rows) == 64 and float(rows[0]["probability_1"]) >= float(rows[0]["probability_2"])


def test_a_model_trained_on_sign_crops_asks_for_cropped_photos(
    tmp_path: Path, roi_run: dict, raw_test_images: list, caplog: pytest.LogCaptureFixture
) -> None:
    folder = raw_test_images[0][0].parent
    cfg = compose_predict(tmp_path, f"ckpt={roi_run['best_checkpoint']}", f"inputs={folder}")
    with caplog.at_level(logging.WARNING):
        result = predict(cfg)
    assert not result.failed and len(result.predictions) == len(raw_test_images)
    assert "cropped to the sign (data.roi_crop=0.05)" in caplog.text
    assert "a border of 5 % of its size" in caplog.text


@pytest.mark.real_data
def test_a_model_trained_with_the_framing_jitter_says_its_range(
    tmp_path: Path, cache_dir: Path, mirror: Path, raw_test_images: list, caplog
) -> None:
    """data.jitter.roi_margin travels in the checkpoint: tsr.predict asks for photos
    framed within its range."""
    from .conftest import train_tiny

    run = train_tiny(
        tmp_path / "run",
        cache_dir,
        mirror,
        "data.roi_crop=0.1",
        "data.jitter.enabled=true",
        "data.jitter.roi_margin=[0.0,0.3]",
        "trainer.limit_train_batches=4",
        "trainer.limit_test_batches=1",
    )
    assert load_classifier(run["checkpoint"], "cpu").roi_margin == (0.0, 0.3)
    folder = raw_test_images[0][0].parent
    cfg = compose_predict(tmp_path, f"ckpt={run['checkpoint']}", f"inputs={folder}")
    with caplog.at_level(logging.WARNING):
        assert not predict(cfg).failed
    assert "data.roi_crop=0.1, roi_margin=[0.0, 0.3]" in caplog.text
    assert "a border of 0-30 % of its size" in caplog.text


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.real_data
def test_every_common_format_reads_as_the_original_pixels(tmp_path: Path, raw_test_images):
    originals = [_rgb(path) for path, _, _ in raw_test_images[:6]]
    files = good_inputs(tmp_path, originals)
    a, b, c, d, e, f = originals
    assert np.array_equal(read_image(files["rgba.png"]), a)  # opaque alpha: exact
    assert np.array_equal(read_image(files["image.bmp"]), e)
    gray = np.asarray(Image.fromarray(c).convert("L"))
    assert np.array_equal(read_image(files["gray16.png"]), np.dstack([gray] * 3))  # 16 -> 8 bit
    jpeg_gray = read_image(files["gray.jpg"])
    assert jpeg_gray.shape == (32, 32, 3) and (jpeg_gray[..., 0] == jpeg_gray[..., 2]).all()
    d_gray = np.asarray(Image.fromarray(d).convert("L"), dtype=int)
    assert np.abs(jpeg_gray[..., 0].astype(int) - d_gray).mean() < 4
    assert np.abs(read_image(files["palette.gif"]).astype(int) - b).mean() < 8  # 256 colours
    upright = read_image(files["rotated.jpg"])
    assert np.abs(upright.astype(int) - f).mean() < 6  # EXIF orientation applied
    assert np.abs(np.rot90(upright, 1).astype(int) - f).mean() > 20  # not as stored
    assert read_image(files["large.jpeg"]).shape == (150, 180, 3)


def test_first_frame_of_an_animated_gif(tmp_path: Path, raw_test_images):
    first, second = (_rgb(path) for path, _, _ in raw_test_images[:2])
    frames = [Image.fromarray(x).quantize(256) for x in (first, second)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    got = read_image(path).astype(int)
    assert np.abs(got - first).mean() < np.abs(got - second).mean()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.png", "empty file"),
        ("truncated.jpg", "damaged or truncated"),
        ("truncated.png", "damaged or truncated"),
        ("text.png", "not an image"),
        ("bomb.png", "declares 100000x100000 pixels"),
        ("no_images_dir", "is a folder"),
        ("missing.jpg", "no such file"),
    ],
)
def test_each_bad_file_gives_its_reason(tmp_path: Path, raw_test_images, name, message):
    image = Image.open(raw_test_images[0][0])
    paths = bad_inputs(tmp_path, encode(image, "PNG"), encode(image, "JPEG"))
    with pytest.raises(ImageReadError, match=message) as error:
        read_image(paths[name])
    assert str(paths[name]) in str(error.value) and "\n" not in str(error.value)


def test_bad_inputs_are_reported_and_good_ones_still_answered(
    tmp_path: Path, tiny_checkpoint: Path, raw_test_images
):
    originals = [_rgb(path) for path, _, _ in raw_test_images[:6]]
    good = good_inputs(tmp_path / "photos", originals)
    image = Image.open(raw_test_images[0][0])
    bad = bad_inputs(tmp_path / "photos", encode(image, "PNG"), encode(image, "JPEG"))
    (tmp_path / "empty_dir").mkdir()
    inputs = [
        tmp_path / "photos",  # a folder: its good and bad image files
        bad["missing.jpg"],
        tmp_path / "empty_dir",
        f"{tmp_path}/nothing/*.png",
        raw_test_images[1][0],  # a .ppm by name
    ]
    result = run_tsr(
        "predict",
        f"ckpt={tiny_checkpoint}",
        f"inputs={_quoted(inputs)}",
        f"output_dir={tmp_path / 'out'}",
        root=tmp_path,
        env={"COLUMNS": "200"},
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    saved = json.loads((tmp_path / "out" / "predictions.json").read_text())
    by_input = {Path(p["input"]).name: p for p in saved["predictions"]}
    for name in good:
        assert by_input[name]["error"] is None and len(by_input[name]["top"]) == 5, name
        probabilities = [t["probability"] for t in by_input[name]["top"]]
        assert probabilities == sorted(probabilities, reverse=True)
    assert by_input[raw_test_images[1][0].name]["error"] is None
    expected_errors = {
        "empty.png": "empty file",
        "truncated.jpg": "truncated",
        "truncated.png": "truncated",
        "text.png": "not an image",
        "bomb.png": "decompression bomb",
        "missing.jpg": "no such file",
        "empty_dir": "folder holds no images",
        "*.png": "pattern matches no file",
    }
    for name, message in expected_errors.items():
        assert message in (by_input[name]["error"] or ""), (name, by_input[name])
        error_lines = [line for line in output.splitlines() if "ERROR" in line and name in line]
        assert len(error_lines) == 1, (name, error_lines)  # one line per bad input
    assert "no_images_dir" not in by_input  # inside a named folder: not an image, skipped
    assert saved["images"] == len(good) + 1 and saved["failed"] == len(expected_errors)
    assert (tmp_path / "out" / "predictions.csv").is_file()
    sheets = sorted((tmp_path / "out").glob("sheet_*.png"))
    assert [p.name for p in sheets] == ["sheet_001.png"]  # the 8 answered images, 8 a sheet
    assert Image.open(sheets[0]).size[0] > 500


def test_lossless_formats_answer_like_the_original_file(
    tmp_path: Path, tiny_checkpoint: Path, raw_test_images
):
    originals = [_rgb(path) for path, _, _ in raw_test_images[:6]]
    files = good_inputs(tmp_path / "photos", originals)
    inputs = [raw_test_images[0][0], files["rgba.png"], raw_test_images[4][0], files["image.bmp"]]
    cfg = compose_predict(tmp_path, f"ckpt={tiny_checkpoint}", f"inputs={_quoted(inputs)}")
    p = predict(cfg).predictions
    assert p[0].top == p[1].top and p[2].top == p[3].top


def test_tta_averages_views_into_a_distribution(tmp_path, tiny_checkpoint, raw_test_images):
    folder = raw_test_images[0][0].parent
    plain = predict(compose_predict(tmp_path, f"ckpt={tiny_checkpoint}", f"inputs={folder}"))
    tta = predict(
        compose_predict(tmp_path, f"ckpt={tiny_checkpoint}", f"inputs={folder}", "tta=true")
    )
    assert json.loads((tmp_path / "out" / "predictions.json").read_text())["tta"] is True
    differs = 0
    for a, b in zip(plain.predictions, tta.predictions, strict=True):
        assert 0 < b.top[0]["probability"] <= 1
        differs += abs(a.top[0]["probability"] - b.top[0]["probability"]) > 1e-4
    assert differs > len(plain.predictions) // 2  # the views really change the answer
    agree = sum(
        a.top[0]["class_id"] == b.top[0]["class_id"]
        for a, b in zip(plain.predictions, tta.predictions, strict=True)
    )
    assert agree >= len(plain.predictions) // 2  # small views of the same sign


def test_no_inputs_and_bad_options_are_config_errors(tmp_path: Path, tiny_checkpoint: Path):
    with pytest.raises(ConfigError, match="no inputs"):
        predict(compose_predict(tmp_path, f"ckpt={tiny_checkpoint}"))
    with pytest.raises(ConfigError, match="top_k=0"):
        predict(compose_predict(tmp_path, f"ckpt={tiny_checkpoint}", "inputs=x.png", "top_k=0"))


def test_probabilities_of_the_top_k_sum_to_at_most_one(tmp_path, tiny_checkpoint, raw_test_images):
    cfg = compose_predict(
        tmp_path, f"ckpt={tiny_checkpoint}", f"inputs={raw_test_images[0][0]}", "top_k=50"
    )
    (p,) = predict(cfg).predictions
    assert len(p.top) == 43  # clipped to the number of classes
    assert sum(t["probability"] for t in p.top) == pytest.approx(1.0, abs=1e-5)
    assert torch.tensor([t["probability"] for t in p.top]).diff().le(0).all()


def test_several_checkpoints_predict_as_a_committee(
    tmp_path, tiny_checkpoint, raw_test_images
) -> None:
    """A checkpoint and its copy are a committee that answers exactly as the checkpoint (the
    same path twice is refused: tests/faults/test_command_options.py)."""
    image = raw_test_images[0][0]
    copy = Path(shutil.copy(tiny_checkpoint, tmp_path / "copy.ckpt"))
    alone = predict(compose_predict(tmp_path / "a", f"ckpt={tiny_checkpoint}", f"inputs={image}"))
    twice = predict(
        compose_predict(tmp_path / "b", f"ckpt=[{tiny_checkpoint},{copy}]", f"inputs={image}")
    )
    (one,), (two,) = alone.predictions, twice.predictions
    assert [t["class_id"] for t in one.top] == [t["class_id"] for t in two.top]
    assert [t["probability"] for t in one.top] == pytest.approx(
        [t["probability"] for t in two.top], abs=1e-6
    )
    written = json.loads((tmp_path / "b" / "out" / "predictions.json").read_text())
    assert written["checkpoint"] == [str(tiny_checkpoint), str(copy)]
