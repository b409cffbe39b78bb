"""The numeric precision of a run: `trainer.precision=auto` (the default) picks bf16 mixed
precision where the processor computes bf16 fast, fp32 elsewhere, and says which and why.

Measured on this project's hosts (3x3 128->128 convolution, batch 64 of 32x32, inference,
best of 15, 2 threads, torch 2.14.1). The first three rows: one Intel Xeon with AMX, 2
cores, 2026-12-02, `ONEDNN_MAX_CPU_ISA` restricting oneDNN to an older instruction set;
the last: an AMD EPYC Zen 4 itself (family 25 model 17), 2 cores, 2026-12-07:

| oneDNN path                                  | fp32 GFLOP/s | bf16 autocast | bf16 / fp32 |
|----------------------------------------------|-------------:|--------------:|------------:|
| AMX (`amx_bf16`, Sapphire Rapids and later)  |          291 |         1,993 |        6.85 |
| AVX-512 with `avx512_bf16`, on that Xeon     |          289 |           208 |        0.72 |
| AVX-512 without bf16 instructions            |          303 |            76 |        0.25 |
| AMD Zen 4 (`avx512_bf16`, no AMX)            |          171 |           327 |        1.92 |

The emulated row did not predict the Zen 4: its AVX-512 units are 256 bits wide, so fp32
runs at half the Xeon's rate while the bf16 dot-product instructions double it. So `auto`
is bf16 with AMX and on AMD family 25 with `avx512_bf16` (Zen 4; Zen 3, the same family,
has no bf16 instructions), and fp32 everywhere else: other `avx512_bf16` CPUs (Intel
Cooper Lake, AMD Zen 5 with full-width AVX-512) are not measured. On CUDA it is bf16 where
the GPU has bf16 tensor cores (Ampere and later), fp32 before.

`python -m tsr.bench`, tsr's training loop, bf16 over fp32 (experiments/benchmarks): on
the AMX Xeon `multiscale` 2.08x, `multiscale_plain` 1.82x, even LeNet 1.13x; on the Zen 4
`multiscale` 1.46x, `multiscale_plain` 1.60x (batched inference 1.77x and 1.66x). An
explicit `trainer.precision=32-true` or `bf16-mixed` is taken as given.
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


@cache
def proc_cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the end of the first processor
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def _proc_cpuinfo_flags() -> set[str]:
    return set(proc_cpuinfo().get("flags", "").split())


def amd_zen4() -> bool:
    """AMD family 25 (0x19: Zen 3 and Zen 4); with `avx512_bf16` it is a Zen 4."""
    cpu = proc_cpuinfo()
    return cpu.get("vendor_id") == "AuthenticAMD" and cpu.get("cpu family") == "25"


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
    if features["avx512_bf16"] and amd_zen4():
        return PrecisionChoice(
            BF16, "the CPU is an AMD Zen 4 with avx512_bf16: bf16 measured 1.46x fp32 in training"
        )
    if features["avx512_bf16"]:
        return PrecisionChoice(
            FP32,
            "the CPU has avx512_bf16 but no AMX and is no Zen 4: bf16 convolutions measured"
            " 0.72x fp32 on that oneDNN path",
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
