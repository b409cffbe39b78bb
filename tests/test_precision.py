"""Mixed precision: what `trainer.precision=auto` picks, and bf16 training on the CPU."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import lightning as L
import pytest
import torch

from tsr.training import precision
from tsr.training.precision import BF16, FP32, choose_precision, cpu_features, resolve_precision
from tsr.training.run import build

from .conftest import CONF_DIR, compose_train

MODEL_CONFIGS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
HAS_BF16_UNITS = cpu_features()["amx_bf16"] or cpu_features()["avx512_bf16"]


def _fake_cpu(
    monkeypatch: pytest.MonkeyPatch,
    vendor: str = "GenuineIntel",
    family: str = "6",
    **features: bool,
) -> None:
    flags = dict.fromkeys(precision.CPU_FEATURES, False) | features
    monkeypatch.setattr(precision, "cpu_features", lambda: flags)
    cpuinfo = {"vendor_id": vendor, "cpu family": family}
    monkeypatch.setattr(precision, "proc_cpuinfo", lambda: cpuinfo)


def test_auto_is_bf16_with_amx_and_on_zen4_only(monkeypatch) -> None:
    _fake_cpu(monkeypatch, amx_bf16=True, avx512_bf16=True)
    assert choose_precision("cpu") == precision.PrecisionChoice(
        BF16, "the CPU has AMX bf16 units (amx_bf16)"
    )
    # AMD Zen 4 (family 25 with avx512_bf16): measured 1.46x fp32 training, 1.92x convolutions
    _fake_cpu(monkeypatch, vendor="AuthenticAMD", family="25", avx512_bf16=True)
    choice = choose_precision("cpu")
    assert choice.precision == BF16 and "Zen 4" in choice.reason
    # Zen 3 is family 25 too, without bf16 instructions
    _fake_cpu(monkeypatch, vendor="AuthenticAMD", family="25", avx512_f=True, avx2=True)
    assert choose_precision("cpu") == precision.PrecisionChoice(FP32, "the CPU has no bf16 units")
    # avx512_bf16 elsewhere (Intel Cooper Lake; AMD Zen 5, family 26): not measured faster
    for vendor, family in (("GenuineIntel", "6"), ("AuthenticAMD", "26")):
        _fake_cpu(monkeypatch, vendor=vendor, family=family, avx512_bf16=True)
        choice = choose_precision("cpu")
        assert choice.precision == FP32 and "avx512_bf16 but no AMX" in choice.reason
    _fake_cpu(monkeypatch)
    assert choose_precision("cpu") == precision.PrecisionChoice(FP32, "the CPU has no bf16 units")


def test_proc_cpuinfo_reads_the_first_processor() -> None:
    fields = precision.proc_cpuinfo()
    if not Path("/proc/cpuinfo").exists():
        assert fields == {}
        return
    assert fields["vendor_id"] and fields["cpu family"].isdigit() and "flags" in fields


def test_auto_is_resolved_in_the_run_config_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = compose_train(tmp_path, tmp_path / "cache", tmp_path, "model=multiscale")
    assert cfg.trainer.precision == "auto"
    with caplog.at_level(logging.INFO, logger="tsr.training.precision"):
        chosen = resolve_precision(cfg.trainer)
    expected = choose_precision(cfg.trainer.accelerator)
    assert chosen == cfg.trainer.precision == expected.precision  # recorded in config.yaml
    assert f"precision {chosen} (trainer.precision=auto: {expected.reason})" in caplog.text
    explicit = compose_train(tmp_path, tmp_path / "cache", tmp_path, "trainer.precision=32-true")
    assert resolve_precision(explicit.trainer) == "32-true"  # taken as given
    _, _, trainer = build(explicit)
    assert str(trainer.precision) == "32-true"
    assert not (tmp_path / "cache").exists()  # decided before any data is read


class _StepRecorder(L.Callback):
    """The training loss of every step and the dtype the first convolution computes in."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.conv_dtypes: set[torch.dtype] = set()

    def on_fit_start(self, trainer, pl_module) -> None:
        conv = next(m for m in pl_module.backbone.modules() if isinstance(m, torch.nn.Conv2d))
        conv.register_forward_hook(lambda m, i, out: self.conv_dtypes.add(out.dtype))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


@pytest.mark.slow  # measured > 5 s (Xeon, 2 cores)
@pytest.mark.skipif(
    not HAS_BF16_UNITS,
    reason="this CPU has no bf16 units (amx_bf16, avx512_bf16): bf16 would be emulated, "
    "measured 0.25x fp32, and tsr trains in fp32 here",
)
@pytest.mark.parametrize("model", MODEL_CONFIGS)
def test_bf16_training_steps_on_the_cpu(tmp_path: Path, cache_dir, mirror, model: str) -> None:
    """Every model config (every backbone; the spatial transformer's grid_sample in
    `multiscale` and `multiscale_small_stn`) trains in bf16 on real images with the batched
    jitter on: computes in bf16, loss finite and falling, metrics finite."""
    recorder = _StepRecorder()
    cfg = compose_train(
        tmp_path,
        cache_dir,
        mirror,
        f"model={model}",
        "trainer.precision=bf16-mixed",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=8",
        "+trainer.overfit_batches=1",  # the same 64 real images every step
        "debug=fast",
        "trainer.limit_val_batches=1",
        "data.batch_size=64",
        "data.jitter.batched=true",
        "callbacks=none",
        "logger=none",
        "test=false",
    )
    torch.manual_seed(0)
    datamodule, module, trainer = build(cfg, callbacks=[recorder])
    trainer.fit(module, datamodule=datamodule)
    assert str(trainer.precision) == "bf16-mixed"
    assert recorder.conv_dtypes == {torch.bfloat16}
    assert len(recorder.losses) == 8 and all(math.isfinite(x) for x in recorder.losses)
    assert min(recorder.losses[-3:]) < recorder.losses[0], recorder.losses
    assert math.isfinite(float(trainer.callback_metrics["train/acc"]))
    assert math.isfinite(float(trainer.callback_metrics["val/acc"]))


class _TestDtype(L.Callback):
    """The dtype the first convolution computes in during the test loop."""

    def __init__(self) -> None:
        self.dtypes: set[torch.dtype] = set()

    def on_test_start(self, trainer, pl_module) -> None:
        conv = next(m for m in pl_module.backbone.modules() if isinstance(m, torch.nn.Conv2d))
        conv.register_forward_hook(lambda m, i, out: self.dtypes.add(out.dtype))


def test_a_bf16_run_scores_the_test_set_in_fp32(tmp_path: Path, cache_dir, mirror) -> None:
    """bf16-mixed trains in bf16, but test/acc is an fp32 figure: comparable across hosts
    and equal to tsr.evaluate's (tests/test_evaluate.py checks the equality)."""
    recorder = _TestDtype()
    cfg = compose_train(
        tmp_path,
        cache_dir,
        mirror,
        "trainer.precision=bf16-mixed",
        "debug=fast",
        "data.preprocessing=gray",
        "callbacks=none",
        "logger=none",
    )
    datamodule, module, trainer = build(cfg, callbacks=[recorder])
    trainer.fit(module, datamodule=datamodule)
    trainer.test(module, datamodule=datamodule)
    assert recorder.dtypes == {torch.float32}
