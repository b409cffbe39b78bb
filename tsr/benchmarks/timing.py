"""Small timing helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_of(repeats: int, measure: Callable[[], float]) -> float:
    """The best (highest) of `repeats` measurements of a rate: other work on the machine
    only ever slows a run down, so the best is the least disturbed."""
    return max(measure() for _ in range(repeats))


def median_seconds(fn: Callable[[], object], runs: int, device: torch.device) -> float:
    times = []
    for _ in range(runs):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
