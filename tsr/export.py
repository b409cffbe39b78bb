"""Export a checkpoint for serving: `python -m tsr.export ckpt=... [format=onnx|torchscript]`.

Writes <checkpoint name>.onnx (or .torchscript.pt) and a JSON sidecar (data type,
preprocessing to apply first, input shape, class names) to logs/export/<date-time>/
unless output_dir=; checks the exported model against PyTorch before reporting.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import hydra
from omegaconf import DictConfig

from tsr.errors import TsrError
from tsr.inference.checkpoint import load_classifier
from tsr.inference.exporting import export_classifier

log = logging.getLogger(__name__)
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def export(cfg: DictConfig) -> tuple[Path, Path]:
    """Export `cfg.ckpt` as `cfg.format`; return the model file and its sidecar."""
    classifier = load_classifier(cfg.ckpt, "cpu", cfg.get("data_type"))
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


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    try:
        export(cfg)
    except TsrError as exc:
        log.error("%s", exc)
        sys.exit(2)


if __name__ == "__main__":
    main()
