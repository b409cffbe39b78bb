"""Fault suite, tsr.predict inputs: a symbolic link loop, a file name that is not UTF-8,
an icon that could wrap an image of any size, a large 16-bit image. Each bad input is one
error line for that file; the others are answered and the outputs written; memory stays
bounded."""

from __future__ import annotations

import csv
import json
import logging
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tsr.errors import ImageReadError
from tsr.inference.images import read_image
from tsr.inference.inputs import collect_inputs
from tsr.inference.prediction import predict

from ..test_predict import compose_predict


def _sign(path: Path) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    return path


def test_bad_inputs_fail_alone_and_the_rest_is_answered(tmp_path: Path, tiny_checkpoint) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    good = _sign(folder / "good.png")
    os.symlink("loop", folder / "loop")  # a link to itself
    os.symlink(folder / "b.png", folder / "a.png")  # a and b point at each other
    os.symlink(folder / "a.png", folder / "b.png")
    odd = Path(os.fsdecode(bytes(folder) + b"/sign\xff.png"))  # not UTF-8
    _sign(odd)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "icon.ico")
    inputs = [
        str(good),
        str(folder / "loop"),
        str(folder / "a.png"),
        str(odd),
        str(folder / "icon.ico"),
    ]
    cfg = compose_predict(
        tmp_path, f"ckpt={tiny_checkpoint}", "inputs=[" + ",".join(f"'{i}'" for i in inputs) + "]"
    )
    result = predict(cfg)
    by_name = {p.input: p for p in result.predictions}
    assert by_name[str(good)].ok
    odd_name = next(name for name in by_name if "sign" in name)
    assert odd_name.endswith("sign\\xff.png") and by_name[odd_name].ok  # read, shown escaped
    failed = {p.input: p.error for p in result.failed}
    assert any("loop" in name for name in failed)
    assert any(
        "icon.ico" in name and "not an image in a format tsr reads" in error
        for name, error in failed.items()
    )
    assert all("\n" not in error for error in failed.values())
    out = tmp_path / "out"
    with open(out / "predictions.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result.predictions)
    json.loads((out / "predictions.json").read_text(encoding="utf-8"))


def test_a_16_bit_image_costs_a_few_bytes_a_pixel(tmp_path: Path) -> None:
    side = 3000  # 9 megapixels
    values = (np.arange(side * side, dtype=np.uint32) % 65536).astype(np.uint16).reshape(side, side)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    tracemalloc.start()
    try:
        rgb = read_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rgb.shape == (side, side, 3) and rgb.dtype == np.uint8
    assert peak / side**2 < 10, f"{peak / side**2:.1f} bytes per pixel"  # float64 path: > 20


def test_a_float_image_with_nan_pixels_is_refused_with_its_reason(tmp_path: Path) -> None:
    """A float TIFF whose "no data" pixels are NaN has no grey level to become: it is one
    error naming the cause and the fix, not a sign classified from undefined bytes."""
    values = np.full((40, 40), 0.5, np.float32)
    values[10:20, 10:20] = np.nan
    path = tmp_path / "nodata.tif"
    Image.fromarray(values, mode="F").save(path)
    with pytest.raises(ImageReadError, match=r"nodata.tif: float image with NaN or infinite"):
        read_image(path)
    values[10:20, 10:20] = 0.25  # the same image with its holes filled is read
    Image.fromarray(values, mode="F").save(path)
    assert read_image(path).shape == (40, 40, 3)


def test_a_tiff_pillow_cannot_decode_is_named_as_a_tiff(tmp_path: Path) -> None:
    """A 32-bit float colour TIFF (what OpenCV writes for float images) is a TIFF, so the
    message says which kind fails and what to save instead, not "not an image"."""
    from tsr.data.opencv import cv2

    path = tmp_path / "float.tif"
    assert cv2.imwrite(str(path), np.random.default_rng(0).random((8, 8, 3)).astype(np.float32))
    with pytest.raises(ImageReadError, match=r"float.tif: a TIFF of a kind tsr cannot decode"):
        read_image(path)


def test_a_folder_names_the_files_it_passes_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Phone photos in a format tsr does not read (.heic) are not silently left out of a
    folder: the log counts them by kind and says how to include them."""
    _sign(tmp_path / "a.png")
    for name in ("b.heic", "c.HEIC", "notes.txt", ".DS_Store"):
        (tmp_path / name).write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="tsr.inference.inputs"):
        entries = collect_inputs([str(tmp_path)])
    assert [e.path.name for e in entries] == ["a.png"]
    assert "passed over 3 files that tsr does not read as images (2 .heic, 1 .txt)" in caplog.text
    assert "convert them to JPEG or PNG" in caplog.text
