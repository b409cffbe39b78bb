"""Inference speed of a model as trained (normalisation included): batch-1 latency and
batched throughput."""

from __future__ import annotations

import torch

from tsr.benchmarks.timing import median_seconds


def inference_speed(
    model: torch.nn.Module,
    shape: tuple[int, int, int],
    device: torch.device,
    batch: int,
    latency_runs: int,
    bf16: bool = False,
) -> dict[str, float]:
    """`bf16`: under bf16 autocast (what a model trained with bf16-mixed runs in)."""
    model = model.to(device).eval()
    one = torch.randint(0, 256, (1, *shape), dtype=torch.uint8, device=device)
    many = torch.randint(0, 256, (batch, *shape), dtype=torch.uint8, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    with torch.inference_mode(), autocast:
        for _ in range(3):
            model(one)
            model(many)
        latency = median_seconds(lambda: model(one), latency_runs, device)
        batched = median_seconds(lambda: model(many), max(3, latency_runs // 20), device)
    return {"latency_ms": latency * 1000, "batched_images_per_s": batch / batched}
