"""The machine's compute peak, measured in the same run as the models it is compared to.

A large 3x3 convolution (what the models spend their time in) and, for reference, a
large matmul: on the 2-core EPYC PyTorch's convolutions (oneDNN) reach about twice the
matmul rate, so a matmul-only "peak" would flatter every model.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from tsr.benchmarks.timing import synchronize


def _rate(fn, flops: float, device: torch.device, seconds: float) -> float:
    """FLOP/s of `fn` (doing `flops` per call): best of repeated timings over ~`seconds`."""
    with torch.inference_mode():
        for _ in range(2):  # warm-up: kernel selection, allocation
            fn()
        best = 0.0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or best == 0.0:
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            best = max(best, flops / (time.perf_counter() - start))
    return best


def conv_peak(device: torch.device, seconds: float = 2.0, dtype=torch.float32) -> float:
    """FLOP/s of a 3x3, 128 -> 128 channel convolution on 64 32x32 images (NHWC and
    NCHW tried, the faster counts)."""
    batch, channels, side = (64, 128, 32) if device.type == "cpu" else (256, 256, 32)
    x = torch.randn(batch, channels, side, side, device=device, dtype=dtype)
    w = torch.randn(channels, channels, 3, 3, device=device, dtype=dtype)
    flops = 2.0 * batch * channels * channels * 9 * side * side
    best = 0.0
    for memory_format in (torch.channels_last, torch.contiguous_format):
        xm, wm = (
            x.contiguous(memory_format=memory_format),
            w.contiguous(memory_format=memory_format),
        )
        best = max(
            best,
            _rate(lambda xm=xm, wm=wm: F.conv2d(xm, wm, padding=1), flops, device, seconds / 2),
        )
    return best


def matmul_peak(device: torch.device, seconds: float = 1.0, dtype=torch.float32) -> float:
    n = 1024 if device.type == "cpu" else 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return _rate(lambda: a @ b, 2.0 * n**3, device, seconds)
