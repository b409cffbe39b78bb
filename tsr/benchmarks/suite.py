"""The benchmark suite behind `python -m tsr.bench`: the machine (CPU, features, peaks), the
data path, training and inference per model and precision, jitter, memory, the targets.
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import statistics
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from tsr.benchmarks import data as data_bench
from tsr.benchmarks import training
from tsr.benchmarks.inference import inference_speed
from tsr.benchmarks.memory import training_memory
from tsr.benchmarks.peak import conv_peak, matmul_peak
from tsr.benchmarks.report import check_targets, markdown_report
from tsr.benchmarks.settings import check_bench
from tsr.config.composition import compose_checked
from tsr.config.devices import resolve_device
from tsr.errors import ConfigError
from tsr.io.atomic import write_json, write_text_atomic
from tsr.io.folders import folder_problem
from tsr.training.precision import BF16, FP32, choose_precision, cpu_features, proc_cpuinfo
from tsr.training.provenance import code_version, package_versions

log = logging.getLogger("tsr.bench")
REPO = Path(__file__).resolve().parents[2]


def machine() -> dict[str, Any]:
    cpuinfo = proc_cpuinfo()
    info = {
        "cpu": cpuinfo.get("model name") or platform.processor() or platform.machine(),
        # what trainer.precision=auto reads besides the features (AMD family 25: Zen 3/4)
        "cpu_vendor": cpuinfo.get("vendor_id"),
        "cpu_family": cpuinfo.get("cpu family"),
        "cpu_model": cpuinfo.get("model"),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cuda": torch.cuda.is_available(),
        "cpu_features": cpu_features(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _training_cfg(overrides: Sequence[str], output_dir: Path, *extra: str) -> DictConfig:
    return compose_checked("train", [*overrides, *extra, f"paths.output_dir={output_dir}"])


def _steps(bench: DictConfig, model: str) -> int:
    steps = bench.steps
    return (
        int(steps.get(model, steps.get("default", 20)))
        if isinstance(steps, DictConfig)
        else int(steps)
    )


def measure_model(
    bench: DictConfig,
    overrides: Sequence[str],
    output_dir: Path,
    model: str,
    peaks: dict[str, float],
) -> dict[str, Any]:
    """Per precision: plain vs Lightning training throughput and inference speed. All
    loops run back to back once per attempt (plain and tsr in every precision), so the
    machine's slow spells hit a whole attempt; the ratios are medians over attempts."""
    cfg = _training_cfg(
        overrides,
        output_dir,
        f"model={model}",
        f"data.preprocessing={bench.data_type}",
        f"data.batch_size={bench.batch_size}",
        "data.jitter.enabled=false",  # the plain loop has no jitter: same data in both
        "data.min_per_class=0",
    )
    precisions = list(bench.precisions)
    configs = {p: training.bench_config(cfg, precision=p) for p in precisions}
    warmup, steps = int(bench.warmup_steps), _steps(bench, model)
    bare = model in bench.bare_lightning  # also Lightning's own floor (a bare module)
    loops = {"plain": training.plain_throughput, "tsr": training.lightning_throughput}
    if bare:
        loops["bare"] = training.bare_lightning_throughput
    runs = {p: {loop: [] for loop in loops} for p in precisions}
    for attempt in range(int(bench.repeats)):
        for precision, run_cfg in configs.items():
            for loop, measure in loops.items():
                runs[precision][loop].append(measure(run_cfg, warmup, steps).images_per_s)
            log.info(
                "%s %s, attempt %d: %s",
                model,
                precision,
                attempt + 1,
                ", ".join(f"{loop} {runs[precision][loop][-1]:.0f} img/s" for loop in loops),
            )
    datamodule, module, _ = training.prepared(training.bench_config(cfg))
    cost = module.cost()
    shape = (datamodule.in_channels, datamodule.image_size, datamodule.image_size)
    device = resolve_device(cfg.trainer.get("accelerator"), "trainer.accelerator")
    auto = choose_precision("cpu" if device.type == "cpu" else "gpu")
    result: dict[str, Any] = {
        "model": model,
        "parameters": cost["parameters"],
        "macs": cost["macs"],
        "steps": steps,
        "precision": auto.precision,  # what trainer.precision=auto trains it in here
        "precision_reason": auto.reason,
        "precisions": {},
    }
    for precision in precisions:
        plain_runs, tsr_runs = runs[precision]["plain"], runs[precision]["tsr"]
        # forward + backward ~ 3 forward passes; 2 FLOPs per multiply-accumulate
        achieved = max(tsr_runs) * cost["macs"] * 2 * 3
        result["precisions"][precision] = {
            "plain_images_per_s": max(plain_runs),
            "tsr_images_per_s": max(tsr_runs),
            "tsr_over_plain": statistics.median(
                t / p for t, p in zip(tsr_runs, plain_runs, strict=True)
            ),
            "plain_runs": plain_runs,
            "tsr_runs": tsr_runs,
            "achieved_flops": achieved,
            **(
                {
                    "bare_lightning_images_per_s": max(runs[precision]["bare"]),
                    "bare_lightning_runs": runs[precision]["bare"],
                    "bare_lightning_over_plain": statistics.median(
                        b / p for b, p in zip(runs[precision]["bare"], plain_runs, strict=True)
                    ),
                }
                if bare
                else {}
            ),
            "fraction_of_peak": achieved / peaks[precision],
            **inference_speed(
                module,
                shape,
                device,
                int(bench.inference_batch),
                int(bench.latency_runs),
                bf16=precision == BF16,
            ),
        }
    if BF16 in runs and FP32 in runs:  # the speed-up, median over attempts
        result["bf16_over_fp32"] = statistics.median(
            b / f for b, f in zip(runs[BF16]["tsr"], runs[FP32]["tsr"], strict=True)
        )
        rows = result["precisions"]
        result["bf16_inference_over_fp32"] = (
            rows[BF16]["batched_images_per_s"] / rows[FP32]["batched_images_per_s"]
        )
    return result


def measure_jitter(
    bench: DictConfig, overrides: Sequence[str], output_dir: Path
) -> dict[str, float]:
    limit = (
        []
        if bench.epoch_batches is None
        else [f"+trainer.limit_train_batches={bench.epoch_batches}"]
    )
    configs = {
        jitter: _training_cfg(
            overrides,
            output_dir,
            f"model={bench.epoch_model}",
            f"data.preprocessing={bench.data_type}",
            f"data.batch_size={bench.batch_size}",
            f"data.jitter.enabled={jitter != 'false'}",
            f"data.jitter.batched={jitter != 'per_image'}",
            *limit,
        )
        for jitter in ("true", "false", "per_image")  # per_image: albumentations per image
    }
    seconds = dict.fromkeys(configs, float("inf"))
    for attempt in range(int(bench.epoch_repeats)):  # alternating; the fastest of each counts
        for jitter, cfg in configs.items():
            seconds[jitter] = min(seconds[jitter], training.epoch_seconds(cfg))
        log.info(
            "epoch of %s, attempt %d: %.2f s with jitter (%.2f s one albumentations call per "
            "image), %.2f s without",
            bench.epoch_model,
            attempt + 1,
            seconds["true"],
            seconds["per_image"],
            seconds["false"],
        )
    return {
        "model": bench.epoch_model,
        "epoch_s_jitter": seconds["true"],
        "epoch_s_no_jitter": seconds["false"],
        "epoch_s_jitter_per_image": seconds["per_image"],
        "jitter_over_no_jitter": seconds["true"] / seconds["false"],
    }


def measure_data(bench: DictConfig, overrides: Sequence[str], output_dir: Path) -> dict[str, float]:
    cfg = _training_cfg(
        overrides,
        output_dir,
        f"data.preprocessing={bench.data_type}",
        f"data.batch_size={bench.batch_size}",
        f"data.min_per_class={bench.loader_min_per_class}",
    )
    result: dict[str, float] = {}
    if bench.cold:
        result["cold_preparation_s"] = data_bench.cold_preparation_seconds(
            cfg.data.get("mirror"), bench.data_type, cfg.data.image_size
        )
        log.info("cold preparation: %.2f s", result["cold_preparation_s"])
    result["warm_load_s"] = data_bench.warm_load_seconds(cfg)
    result["loader_images_per_s"] = data_bench.loader_images_per_s(cfg, int(bench.loader_batches))
    log.info(
        "warm load %.2f s; training loader alone %.0f img/s",
        result["warm_load_s"],
        result["loader_images_per_s"],
    )
    return result


def measure_memory(
    bench: DictConfig, overrides: Sequence[str], output_dir: Path
) -> dict[str, float]:
    return training_memory(
        [
            *overrides,
            f"model={bench.epoch_model}",
            f"data.preprocessing={bench.data_type}",
            f"data.num_workers={bench.memory_workers}",
            "data.min_per_class=3000",
            "trainer.max_epochs=1",
            f"+trainer.limit_train_batches={bench.memory_batches}",
            "+trainer.limit_val_batches=5",
            "test=false",
            "callbacks=minimal",
            "logger=none",
            "trainer.enable_progress_bar=false",
            f"paths.output_dir={output_dir / 'memory-run'}",
            f"hydra.run.dir={output_dir / 'memory-run'}",
        ],
        cwd=Path.cwd(),
    )


def run(argv: Sequence[str]) -> dict[str, Any]:
    bench_overrides = [a for a in argv if a.lstrip("+~").startswith("bench.")]
    overrides = [a for a in argv if a not in bench_overrides]
    bench = compose_checked("bench", bench_overrides).bench
    check_bench(bench)  # a bad value: one line, before anything is measured
    problem = folder_problem(str(bench.output_dir), "bench.output_dir")
    if problem:  # else found when the results are written, after minutes of measuring
        raise ConfigError(problem)
    device = resolve_device(None)
    with tempfile.TemporaryDirectory(prefix="tsr-bench-run-") as tmp:
        output_dir = Path(tmp)
        _training_cfg(overrides, output_dir)  # a bad override fails before anything runs
        log.info("convolution peaks on %s ...", device)
        seconds = float(bench.peak_seconds)
        peaks = {
            FP32: conv_peak(device, seconds),
            BF16: conv_peak(device, seconds, dtype=torch.bfloat16),
        }
        accelerator = "cpu" if device.type == "cpu" else "gpu"
        choice = choose_precision(accelerator)
        results: dict[str, Any] = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": ["python", "-m", "tsr.bench", *argv],
            "machine": machine(),
            "code": code_version(),
            "packages": package_versions(),
            "settings": OmegaConf.to_container(bench),
            # what `trainer.precision=auto` picks here, and why; the targets read its rows
            "precision": choice.precision,
            "precision_reason": choice.reason,
            "peak": {
                "conv_flops": peaks[FP32],
                "conv_flops_bf16": peaks[BF16],
                "bf16_over_fp32": peaks[BF16] / peaks[FP32],
                "matmul_flops": matmul_peak(device, seconds / 2),
                "matmul_flops_bf16": matmul_peak(device, seconds / 2, dtype=torch.bfloat16),
            },
        }
        log.info(
            "peak: conv %.1f GFLOP/s fp32, %.1f bf16; matmul %.1f fp32, %.1f bf16; "
            "trainer.precision=auto here: %s (%s)",
            peaks[FP32] / 1e9,
            peaks[BF16] / 1e9,
            results["peak"]["matmul_flops"] / 1e9,
            results["peak"]["matmul_flops_bf16"] / 1e9,
            choice.precision,
            choice.reason,
        )
        results["data"] = measure_data(bench, overrides, output_dir)
        results["models"] = [
            measure_model(bench, overrides, output_dir, m, peaks) for m in bench.models
        ]
        results["jitter"] = measure_jitter(bench, overrides, output_dir)
        if bench.memory:
            results["memory"] = measure_memory(bench, overrides, output_dir)
        results["bench_process_max_rss_mib"] = (
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        )
    results["targets"] = check_targets(results)
    return results


def save(results: dict[str, Any], output_dir: Path) -> Path:
    kind = "cuda" if results["machine"]["cuda"] else f"cpu{results['machine']['cpu_count']}"
    stem = f"{kind}-{results['date'][:10]}"
    write_json(output_dir / f"{stem}.json", results)
    write_text_atomic(output_dir / f"{stem}.md", markdown_report(results))
    return output_dir / f"{stem}.json"
