"""`python -m tsr.bench`: how fast tsr trains and predicts, against a hand-written PyTorch
loop and the machine's measured convolution peak, in one run.

Measures the data path (cold preparation, warm load, the training loader alone),
training throughput per model in tsr's Lightning loop and in a plain loop on the same
model, data and batch size (their ratio), epoch time with jitter on vs off, inference
latency and throughput, MACs and achieved FLOP/s as a fraction of the convolution
peak, and peak memory of a training run with workers. On CUDA also with bf16 autocast.
Prints a table and writes JSON and Markdown to `bench.output_dir`; checks the targets
of experiments/benchmarks/README.md.
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
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from tsr.benchmarks import data as data_bench
from tsr.benchmarks import training
from tsr.benchmarks.inference import inference_speed
from tsr.benchmarks.memory import training_memory
from tsr.benchmarks.peak import conv_peak, matmul_peak
from tsr.benchmarks.report import check_targets, markdown_report
from tsr.errors import TsrError
from tsr.files import write_json, write_text_atomic
from tsr.provenance import code_version, package_versions
from tsr.resolvers import register_resolvers

log = logging.getLogger("tsr.bench")
REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _training_cfg(overrides: Sequence[str], output_dir: Path, *extra: str) -> DictConfig:
    return compose("train", overrides=[*overrides, *extra, f"paths.output_dir={output_dir}"])


def _steps(bench: DictConfig, model: str) -> int:
    steps = bench.steps
    return (
        int(steps.get(model, steps.get("default", 20)))
        if isinstance(steps, DictConfig)
        else int(steps)
    )


def measure_model(
    bench: DictConfig, overrides: Sequence[str], output_dir: Path, model: str, peak: float
) -> dict[str, Any]:
    """Plain vs Lightning throughput (interleaved, best of `repeats`), cost, inference."""
    cfg = _training_cfg(
        overrides,
        output_dir,
        f"model={model}",
        f"data.preprocessing={bench.data_type}",
        f"data.batch_size={bench.batch_size}",
        "data.jitter.enabled=false",  # the plain loop has no jitter: same data in both
        "data.min_per_class=0",
    )
    warmup, steps = int(bench.warmup_steps), _steps(bench, model)
    plain_runs: list[float] = []
    tsr_runs: list[float] = []
    for attempt in range(int(bench.repeats)):  # back to back, so slow spells hit both
        plain_runs.append(training.plain_throughput(cfg, warmup, steps).images_per_s)
        tsr_runs.append(training.lightning_throughput(cfg, warmup, steps).images_per_s)
        log.info(
            "%s, attempt %d: plain %.0f img/s, tsr %.0f img/s",
            model,
            attempt + 1,
            plain_runs[-1],
            tsr_runs[-1],
        )
    plain, lightning = max(plain_runs), max(tsr_runs)
    # the ratio: median over the back-to-back pairs (robust to the machine's slow spells)
    ratio = statistics.median(t / p for t, p in zip(tsr_runs, plain_runs, strict=True))
    datamodule, module, _ = training.prepared(training.bench_config(cfg))
    cost = module.cost()
    shape = (datamodule.in_channels, datamodule.image_size, datamodule.image_size)
    device = _device() if cfg.trainer.get("accelerator") != "cpu" else torch.device("cpu")
    # forward + backward ~ 3 forward passes; 2 FLOPs per multiply-accumulate
    achieved = lightning * cost["macs"] * 2 * 3
    result = {
        "model": model,
        "parameters": cost["parameters"],
        "macs": cost["macs"],
        "steps": steps,
        "plain_images_per_s": plain,
        "tsr_images_per_s": lightning,
        "tsr_over_plain": ratio,
        "plain_runs": plain_runs,
        "tsr_runs": tsr_runs,
        "achieved_flops": achieved,
        "fraction_of_conv_peak": achieved / peak,
        **inference_speed(
            module, shape, device, int(bench.inference_batch), int(bench.latency_runs)
        ),
    }
    if device.type == "cuda":
        bf16 = training.bench_config(cfg, precision="bf16-mixed")  # same data, same model
        result["tsr_bf16_images_per_s"] = training.lightning_throughput(
            bf16, warmup, steps
        ).images_per_s
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
    bench = compose("bench", overrides=bench_overrides).bench
    device = _device()
    with tempfile.TemporaryDirectory(prefix="tsr-bench-run-") as tmp:
        output_dir = Path(tmp)
        _training_cfg(overrides, output_dir)  # a bad override fails before anything runs
        log.info("convolution peak on %s ...", device)
        peak = conv_peak(device, float(bench.peak_seconds))
        results: dict[str, Any] = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": ["python", "-m", "tsr.bench", *argv],
            "machine": machine(),
            "code": code_version(),
            "packages": package_versions(),
            "settings": OmegaConf.to_container(bench),
            "peak": {
                "conv_flops": peak,
                "matmul_flops": matmul_peak(device, float(bench.peak_seconds) / 2),
            },
        }
        log.info(
            "peak: conv %.1f GFLOP/s, matmul %.1f GFLOP/s",
            peak / 1e9,
            results["peak"]["matmul_flops"] / 1e9,
        )
        results["data"] = measure_data(bench, overrides, output_dir)
        results["models"] = [
            measure_model(bench, overrides, output_dir, m, peak) for m in bench.models
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


def main(argv: Sequence[str] | None = None) -> None:
    register_resolvers()
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s][%(name)s] %(message)s")
    log.setLevel(logging.INFO)  # the benchmark's progress; the runs it measures stay quiet
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            results = run(argv)
    except TsrError as exc:
        log.error("%s", exc)
        sys.exit(2)
    except (HydraException, OmegaConfBaseException) as exc:
        log.error("invalid configuration: %s", exc)
        sys.exit(2)
    print(markdown_report(results))
    path = save(results, Path(results["settings"]["output_dir"]))
    log.info("results written to %s (and .md)", path)
    missed = [t for t in results["targets"] if t["met"] is False]
    if missed:
        log.warning("targets missed: %s", "; ".join(t["name"] for t in missed))


if __name__ == "__main__":
    main()
