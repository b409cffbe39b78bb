"""Export a classifier for serving without tsr: ONNX (or TorchScript) plus a JSON sidecar.

The exported graph takes uint8 (N, C, S, S) images and does the normalisation with
the checkpoint's training statistics itself; it returns logits and softmax
probabilities. The data type's preprocessing (gray, sharpen, hist, clahe: OpenCV
operations) and the resize are not in the graph: the sidecar says what to apply first.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from tsr.data.preprocessing import step_specs
from tsr.errors import ConfigError, TsrError
from tsr.inference.checkpoint import Classifier, load_classifier
from tsr.inference.settings import check_command
from tsr.io.atomic import write_bytes_atomic, write_json, write_text_atomic

FORMATS = ("onnx", "torchscript")
INPUT_NAME = "images"
OUTPUT_NAMES = ("logits", "probabilities")

log = logging.getLogger(__name__)


class ExportableClassifier(nn.Module):
    """uint8 (N, C, S, S) -> (logits, probabilities), normalisation inside. A plain module
    holding the classifier's network and statistics (TorchScript cannot trace a
    LightningModule outside a Trainer)."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        model = classifier.model
        self.stn = model.stn
        self.backbone = model.backbone
        self.register_buffer("input_mean", model.input_mean.detach().clone())
        self.register_buffer("input_std", model.input_std.detach().clone())
        # temperature scaling baked in when exported with calibrated=true (else 1)
        temperature = model.temperature if model.calibrated else torch.ones(())
        self.register_buffer("temperature", temperature.detach().clone())

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (images.float() / 255.0 - self.input_mean) / self.input_std  # SignClassifier.normalize
        logits = self.backbone(self.stn(x)) / self.temperature
        return logits, logits.softmax(dim=1)


def _example(classifier: Classifier, n: int = 2, seed: int = 0) -> torch.Tensor:
    shape = (n, classifier.in_channels, classifier.image_size, classifier.image_size)
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)


def export_onnx(classifier: Classifier, path: Path, opset: int = 18) -> Path:
    module = ExportableClassifier(classifier).cpu().eval()
    for name in ("onnx_ir", "onnxscript"):  # their graph passes log at INFO level
        logging.getLogger(name).setLevel(logging.WARNING)
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            (_example(classifier),),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=({0: batch},),
            opset_version=opset,
            verbose=False,
        )
    if program is None:
        raise TsrError("torch.onnx.export returned no program: install onnxscript")
    return write_bytes_atomic(path, program.model_proto.SerializeToString())


def export_torchscript(classifier: Classifier, path: Path) -> Path:
    module = ExportableClassifier(classifier).cpu().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export
        traced = torch.jit.trace(module, (_example(classifier),), check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


def onnx_probabilities(path: Path, images: np.ndarray) -> np.ndarray:
    """Run an exported ONNX model with ONNX Runtime on uint8 NCHW images."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAMES[1]], {INPUT_NAME: images})[0]


def torchscript_probabilities(path: Path, images: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export
        module = torch.jit.load(str(path), map_location="cpu")
    with torch.inference_mode():
        return module(torch.from_numpy(images))[1].numpy()


def check_export(classifier: Classifier, path: Path, fmt: str, n: int = 16) -> float:
    """Max |difference| of the exported model's probabilities from PyTorch's, on random
    images; raises if the answers differ."""
    images = _example(classifier, n, seed=1)
    with torch.inference_mode():
        expected = classifier.model(images.to(classifier.device)).softmax(dim=1).cpu().numpy()
    run = onnx_probabilities if fmt == "onnx" else torchscript_probabilities
    got = run(path, images.numpy())
    diff = float(np.abs(got - expected).max())
    if diff > 1e-4 or (got.argmax(1) != expected.argmax(1)).any():
        raise TsrError(f"{path}: the exported model disagrees with PyTorch (max diff {diff:.2e})")
    return diff


def sidecar(
    classifier: Classifier, fmt: str, model_file: Path, opset: int | None
) -> dict[str, Any]:
    """What a program needs to feed the exported model (written as <model>.json)."""
    hp = classifier.model.hparams
    channels, size = classifier.in_channels, classifier.image_size
    digest = hashlib.sha256(classifier.path.read_bytes()).hexdigest()
    return {
        "format": fmt,
        "model_file": model_file.name,
        "opset": opset,
        "checkpoint": str(classifier.path),
        "checkpoint_sha256": digest,
        "model": hp.get("name") or hp["backbone"],
        "data_type": classifier.data_type,
        # the data.roi_crop of its training images (null: whole images, as GTSRB stores them)
        "roi_crop": classifier.roi_crop,
        # logits are divided by this inside the model (1: not calibrated)
        "temperature": float(classifier.model.temperature) if classifier.model.calibrated else 1.0,
        "input": {
            "name": INPUT_NAME,
            "shape": ["N", channels, size, size],
            "dtype": "uint8",
            "layout": "NCHW",
        },
        "outputs": {
            "logits": ["N", len(classifier.class_names)],
            "probabilities": ["N", len(classifier.class_names)],
        },
        "normalisation": {
            "inside_the_model": True,
            "mean": classifier.model.input_mean.flatten().tolist(),
            "std": classifier.model.input_std.flatten().tolist(),
            "formula": "(image / 255 - mean) / std, per channel",
        },
        # executable: what tsr/inference/reference_client.py (written beside the model) runs
        "preprocessing": {
            "decode": "RGB uint8, 3 channels",
            "size": size,
            "resize": "whole image, cv2.INTER_AREA",
            "steps": step_specs(classifier.data_type),
            "layout": "CHW uint8, batched NCHW",
        },
        "client": f"{model_file.name}.client.py",
        "preprocessing_before_the_model": [
            "decode to RGB uint8 (first frame; EXIF orientation applied; alpha on white)",
            *(
                []
                if classifier.roi_crop is None
                else [
                    f"crop the photo to the sign's box grown by {classifier.roi_crop} x its "
                    "size on each side (the model trained on GTSRB images cropped so)"
                ]
            ),
            f"resize the {'whole' if classifier.roi_crop is None else 'cropped'} image to "
            f"{size}x{size} with OpenCV INTER_AREA",
            _data_type_steps(classifier.data_type),
            "transpose HWC -> CHW and stack into a batch",
        ],
        "class_names": list(classifier.class_names),
    }


def _data_type_steps(data_type: str) -> str:
    """The data type's steps as OpenCV calls a reader can run (from `step_specs`)."""
    calls = {
        "cvtColor": lambda st: f"cv2.cvtColor(image, cv2.{st['code']}) (ITU-R 601 luminance)",
        "filter2D": lambda st: f"cv2.filter2D(image, -1, np.float32({st['kernel']}))",
        "equalizeHist": lambda st: "cv2.equalizeHist(image)",
        "CLAHE": lambda st: (
            f"cv2.createCLAHE(clipLimit={st['clipLimit']}, "
            f"tileGridSize={tuple(st['tileGridSize'])}).apply(image)"
        ),
    }
    steps = [calls[st["op"]](st) for st in step_specs(data_type)]
    chain = ", then ".join(steps) if steps else "nothing (3 channels, RGB order)"
    return f"data type {data_type}: {chain}"


def export_classifier(
    classifier: Classifier, fmt: str, output_dir: Path, opset: int = 18, check: bool = True
) -> tuple[Path, Path, float | None]:
    """Write the model and its sidecar JSON; returns (model path, sidecar path, check diff)."""
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r}; valid choices: {', '.join(FORMATS)}")
    stem = classifier.path.stem
    if fmt == "onnx":
        path = export_onnx(classifier, output_dir / f"{stem}.onnx", opset)
    else:
        path = export_torchscript(classifier, output_dir / f"{stem}.torchscript.pt")
    diff = check_export(classifier, path, fmt) if check else None
    info = sidecar(classifier, fmt, path, opset if fmt == "onnx" else None)
    info_path = write_json(path.with_name(f"{path.name}.json"), info)
    # a standalone program (onnxruntime, numpy, OpenCV) that prepares images and runs it
    client = Path(__file__).with_name("reference_client.py").read_text()
    write_text_atomic(path.with_name(f"{path.name}.client.py"), client)
    return path, info_path, diff


def export(cfg: DictConfig) -> tuple[Path, Path]:
    """Export `cfg.ckpt` as `cfg.format`; return the model file and its sidecar."""
    check_command("export", cfg)  # every option, before anything is read
    classifier = load_classifier(
        cfg.ckpt, "cpu", cfg.get("data_type"), cfg.calibrated, cfg.raw_weights
    )
    path, info, diff = export_classifier(
        classifier, cfg.format, Path(cfg.output_dir), cfg.opset, cfg.check
    )
    log.info(
        "exported %s (%s, input uint8 %s x %d x %d x %d, data type %s)%s; sidecar %s",
        path,
        cfg.format,
        "N",
        classifier.in_channels,
        classifier.image_size,
        classifier.image_size,
        classifier.data_type,
        "" if diff is None else f"; matches PyTorch (max diff {diff:.1e})",
        info,
    )
    return path, info
