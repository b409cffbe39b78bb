"""What only a CUDA GPU can show: training on it, the data set held on it, bf16 on it,
and the same predictions there as on the CPU. Skipped without a GPU."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tsr.data.datamodule import GtsrbDataModule
from tsr.data.preprocessing import preprocess
from tsr.inference.checkpoint import load_classifier
from tsr.inference.forward import logits_of
from tsr.training.precision import BF16, FP32, choose_precision
from tsr.training.run import train

from .conftest import compose_train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_auto_precision_on_the_gpu() -> None:
    expected = BF16 if torch.cuda.is_bf16_supported() else FP32
    assert choose_precision("auto").precision == expected
    assert choose_precision("gpu").precision == expected


@pytest.mark.parametrize("data_device", [None, "cuda"])
def test_training_on_the_gpu(tmp_path: Path, cache_dir, mirror, data_device) -> None:
    cfg = compose_train(
        tmp_path,
        cache_dir,
        mirror,
        "trainer=gpu",
        "model=multiscale_small_stn",  # grid_sample and batch norm on the GPU
        "debug=fast",
        "trainer.limit_train_batches=20",
        f"data.device={data_device or 'null'}",
        "logger=none",
    )
    metrics = train(cfg, show_summary=False)
    assert metrics["precision"] == choose_precision("gpu").precision
    assert math.isfinite(metrics["test/loss"]) and metrics["test/acc"] > 1 / 43


def test_data_held_on_the_gpu_gives_the_host_batches(cache_dir, mirror) -> None:
    batches = []
    for device in (None, "cuda"):
        dm = GtsrbDataModule(
            data_dir=cache_dir, mirror=mirror, preprocessing="gray", device=device,
            jitter={"enabled": False}, batch_size=64,
        )  # fmt: skip
        dm.setup("fit")
        images, labels = next(iter(dm.val_dataloader()))
        batches.append((images.cpu(), labels.cpu()))
    assert torch.equal(batches[0][0], batches[1][0]) and torch.equal(batches[0][1], batches[1][1])


def test_gpu_and_cpu_predictions_agree(tiny_checkpoint: Path, gtsrb) -> None:
    images = gtsrb.test.images[:512]
    on_cpu = load_classifier(tiny_checkpoint, "cpu")
    on_gpu = load_classifier(tiny_checkpoint, "cuda")
    inputs = preprocess(images, on_cpu.data_type)
    cpu_logits = logits_of(on_cpu.model, inputs)
    gpu_logits = logits_of(on_gpu.model, inputs)
    torch.testing.assert_close(gpu_logits, cpu_logits, atol=1e-3, rtol=1e-3)
    assert (gpu_logits.argmax(1) == cpu_logits.argmax(1)).float().mean() > 0.99
