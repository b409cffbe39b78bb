"""The numeric precision of a run: `trainer.precision=auto` (the default) picks bf16 mixed
precision where the processor computes bf16 fast, fp32 elsewhere, and says which and why.

Measured on this project's hosts (3x3 128->128 convolution, batch 64 of 32x32, inference,
best of 15; `ONEDNN_MAX_CPU_ISA` restricts oneDNN to an older instruction set on one
Intel Xeon with AMX, 2 cores, 2026-12-02, torch 2.14.1):

| oneDNN path                                  | fp32 GFLOP/s | bf16 autocast | bf16 / fp32 |
|----------------------------------------------|-------------:|--------------:|------------:|
| AMX (`amx_bf16`, Sapphire Rapids and later)  |          291 |         1,993 |        6.85 |
| AVX-512 with `avx512_bf16` (AMD Zen 4/5 too) |          289 |           208 |        0.72 |
| AVX-512 without bf16 instructions            |          303 |            76 |        0.25 |

So on a CPU bf16 pays only with AMX tiles: `auto` is bf16 there and fp32 everywhere else,
`avx512_bf16` alone included (not measured on a Zen 4 itself: none was lent). On CUDA it
is bf16 where the GPU has bf16 tensor cores (Ampere and later), fp32 before.

`python -m tsr.bench` on that host (experiments/benchmarks), tsr's training loop, bf16
over fp32: `multiscale` 2.08x, `multiscale_plain` 1.82x, even LeNet 1.13x. An explicit
`trainer.precision=32-true` or `bf16-mixed` is taken as given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

import torch

log = logging.getLogger(__name__)

AUTO = "auto"
BF16 = "bf16-mixed"
FP32 = "32-true"
# the CPU features tsr.bench records; amx_bf16 alone decides `auto`
CPU_FEATURES = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512_f", "avx2")


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str
    reason: str


@cache
def cpu_features() -> dict[str, bool]:
    """The bf16-related features of this CPU, as PyTorch's CPU backend sees them."""
    try:
        capabilities = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # torch without the query: /proc/cpuinfo
        capabilities = {name: name in _proc_cpuinfo_flags() for name in CPU_FEATURES}
        capabilities["avx512_f"] = "avx512f" in _proc_cpuinfo_flags()
    return {name: bool(capabilities.get(name, False)) for name in CPU_FEATURES}


def _proc_cpuinfo_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _uses_cuda(accelerator: str | None) -> bool:
    """Whether Lightning will train on CUDA (it validates the accelerator name itself)."""
    if accelerator in ("gpu", "cuda"):
        return True
    return accelerator in (None, "auto") and torch.cuda.is_available()


def _cuda_bf16() -> bool:
    try:  # emulated bf16 (pre-Ampere) is slower than fp32: not counted
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.5 has no emulation and no such argument
        return torch.cuda.is_bf16_supported()


def choose_precision(accelerator: str | None) -> PrecisionChoice:
    """What `trainer.precision=auto` means for `trainer.accelerator` on this machine."""
    if _uses_cuda(accelerator):
        if torch.cuda.is_available() and _cuda_bf16():
            name = torch.cuda.get_device_name(0)
            return PrecisionChoice(BF16, f"the GPU ({name}) has bf16 tensor cores")
        return PrecisionChoice(FP32, "no GPU with bf16 tensor cores")
    features = cpu_features()
    if features["amx_bf16"]:
        return PrecisionChoice(BF16, "the CPU has AMX bf16 units (amx_bf16)")
    if features["avx512_bf16"]:
        return PrecisionChoice(
            FP32, "the CPU has avx512_bf16 but no AMX: bf16 convolutions are slower there"
        )
    return PrecisionChoice(FP32, "the CPU has no bf16 units")


def resolve_precision(trainer_cfg) -> str:
    """Replace `precision: auto` in a trainer config (in place) by the choice for its
    accelerator, logged with the reason; return the precision the run uses."""
    precision = str(trainer_cfg.get("precision", FP32))
    if precision != AUTO:
        return precision
    choice = choose_precision(trainer_cfg.get("accelerator"))
    log.info("precision %s (trainer.precision=auto: %s)", choice.precision, choice.reason)
    trainer_cfg.precision = choice.precision
    return choice.precision
