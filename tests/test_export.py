"""`python -m tsr.export`: ONNX Runtime (and TorchScript) give PyTorch's probabilities on
real test images; the sidecar says how to feed the model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from hydra import compose, initialize_config_dir

from tsr.data.preprocessing import preprocess
from tsr.inference.checkpoint import Classifier, load_classifier
from tsr.inference.exporting import export, export_onnx, onnx_probabilities
from tsr.inference.forward import logits_of
from tsr.inference.images import model_input, read_image
from tsr.models import SignClassifier

from .conftest import CONF_DIR, run_tsr


def _export(tmp_path: Path, ckpt: Path, fmt: str) -> tuple[Path, Path]:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "export", overrides=[f"ckpt={ckpt}", f"format={fmt}", f"output_dir={tmp_path}"]
        )
    return export(cfg)


@pytest.fixture(scope="module")
def test_batch(gtsrb, tiny_checkpoint: Path) -> tuple[np.ndarray, np.ndarray]:
    """64 real test images as the model takes them (uint8 NCHW), and PyTorch's answers."""
    classifier = load_classifier(tiny_checkpoint, "cpu")
    images = preprocess(gtsrb.test.images[:: 12_630 // 64][:64], classifier.data_type)
    probs = logits_of(classifier.model, images).softmax(dim=1).numpy()
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)), probs


def test_onnx_runtime_agrees_with_pytorch_on_real_test_images(
    tmp_path: Path, tiny_checkpoint: Path, test_batch, raw_test_images
):
    model_path, info_path = _export(tmp_path, tiny_checkpoint, "onnx")
    assert model_path.suffix == ".onnx" and model_path.parent == tmp_path
    images, expected = test_batch
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "images" and inp.type == "tensor(uint8)"
    logits, probs = session.run(None, {"images": images})
    assert np.abs(probs - expected).max() < 1e-4
    assert (probs.argmax(1) == expected.argmax(1)).all()
    np.testing.assert_allclose(probs, torch.from_numpy(logits).softmax(1).numpy(), atol=1e-6)
    single = session.run(["probabilities"], {"images": images[:1]})[0]  # any batch size
    assert np.abs(single - expected[:1]).max() < 1e-4
    # the sidecar's recipe from a raw file: what tsr.predict does before the model
    info = json.loads(info_path.read_text())
    assert info["data_type"] == "clahe" and info["input"]["shape"] == ["N", 1, 32, 32]
    assert info["input"]["dtype"] == "uint8" and len(info["class_names"]) == 43
    assert info["normalisation"]["inside_the_model"] is True
    path = raw_test_images[0][0]
    x = model_input(read_image(path), 32, info["data_type"]).transpose(2, 0, 1)[None]
    assert session.run(["probabilities"], {"images": np.ascontiguousarray(x)})[0].argmax() == (
        expected[0].argmax()
    )


def test_both_spatial_transformers_export(tmp_path: Path, test_batch):
    """`multiscale` with the image transformer and the one on its feature maps
    (`feature_stn`), both moved off the identity: ONNX Runtime gives PyTorch's probabilities."""
    torch.manual_seed(0)
    model = SignClassifier(
        "multiscale", in_channels=1, stn=True, backbone_options={"feature_stn": True}
    ).eval()
    with torch.no_grad():
        for stn in (model.stn, model.backbone.feature_stn):
            stn.affine.weight.normal_(0, 0.05)
    images, _ = test_batch
    nhwc = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    expected = logits_of(model, nhwc).softmax(dim=1).numpy()
    names = tuple(f"class {i}" for i in range(43))
    classifier = Classifier(model, "clahe", 32, names, tmp_path / "untrained.ckpt")
    probs = onnx_probabilities(export_onnx(classifier, tmp_path / "both.onnx"), images)
    assert np.abs(probs - expected).max() < 1e-4
    assert (probs.argmax(1) == expected.argmax(1)).all()


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_torchscript_agrees_with_pytorch(tmp_path: Path, tiny_checkpoint: Path, test_batch):
    model_path, _ = _export(tmp_path, tiny_checkpoint, "torchscript")
    images, expected = test_batch
    module = torch.jit.load(str(model_path))
    with torch.inference_mode():
        probs = module(torch.from_numpy(images))[1].numpy()
    assert np.abs(probs - expected).max() < 1e-5


@pytest.mark.slow
def test_cli_export_and_a_bad_format(tmp_path: Path, tiny_checkpoint: Path):
    def run(*overrides: str) -> subprocess.CompletedProcess[str]:
        return run_tsr("export", f"ckpt={tiny_checkpoint}", *overrides, root=tmp_path, timeout=300)

    bad = run("format=tflite")
    assert bad.returncode == 2 and "valid choices: onnx, torchscript" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
    good = run()
    assert good.returncode == 0, (good.stdout + good.stderr)[-3000:]
    (model,) = (tmp_path / "logs" / "export").glob("*/*.onnx")
    assert model.with_name(model.name + ".json").is_file()
    assert "matches PyTorch" in good.stdout + good.stderr


def test_the_sidecar_says_a_sign_crop_model_wants_cropped_photos(tmp_path: Path, roi_run: dict):
    _, info_path = _export(tmp_path, Path(roi_run["best_checkpoint"]), "torchscript")
    info = json.loads(info_path.read_text())
    assert info["roi_crop"] == 0.05
    assert info["preprocessing_before_the_model"][1].startswith("crop the photo to the sign's box")
