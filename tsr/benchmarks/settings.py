"""`bench.*` of `python -m tsr.bench`: every default, type and range.

Hydra takes the defaults from here (`register_bench_schema`, listed in conf/bench.yaml);
`tsr.bench` checks the values against it before anything is measured or read, so a bad
one is one line naming the key and the valid range (before: `bench.repeats=0` ended in a
ValueError traceback after the convolution peaks, `bench.peak_seconds=-1` measured on).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from tsr.config.composition import CONF_DIR
from tsr.config.schema import Choice, Settings, defaults, store_defaults, validate
from tsr.data.preprocessing import DATA_TYPES
from tsr.training.precision import BF16, FP32

Positive = Annotated[int, Field(ge=1)]


def _model_config(name: str) -> str:
    """A model of conf/model/ (what `model=<name>` picks)."""
    known = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
    if name not in known:
        raise ValueError(f"bench: model {name!r} is not in conf/model/ ({', '.join(known)})")
    return name


Model = Annotated[str, AfterValidator(_model_config)]


def _step_counts(steps: Any) -> Any:
    """One whole number >= 1, or one per model name (and `default`)."""
    counts = steps if isinstance(steps, dict) else {"": steps}
    for name, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            where = f"bench.steps.{name}" if name else "bench.steps"
            raise ValueError(
                f"{where}={count!r} must be a whole number >= 1 (timed steps per measurement;"
                " per model: bench.steps={lenet:250,default:20})"
            )
    return steps


class BenchSettings(Settings):
    # training and inference throughput, one row each
    models: Annotated[list[Model], Field(min_length=1)] = Field(
        default_factory=lambda: ["lenet", "multiscale_plain", "multiscale"]
    )
    # each measured on every host (bf16 without bf16 units: slow)
    # (not 16-mixed: the plain loop and the peaks have no fp16 path to compare it with)
    precisions: Annotated[list[Choice(FP32, BF16)], Field(min_length=1)] = Field(
        default_factory=lambda: [FP32, BF16]
    )
    # also a bare LightningModule on the same network: Lightning's floor
    bare_lightning: list[Model] = Field(default_factory=lambda: ["lenet"])
    data_type: Choice(*DATA_TYPES) = "gray"  # data.preprocessing of every measurement
    batch_size: Annotated[int, Field(ge=1, le=65536)] = 128
    warmup_steps: Annotated[int, Field(ge=0)] = 5  # per throughput measurement, not timed
    # timed optimiser steps per measurement: one number, or per model with a `default`
    steps: Annotated[int | dict[str, Any], AfterValidator(_step_counts)] = Field(
        default_factory=lambda: {"lenet": 250, "default": 20}
    )
    repeats: Positive = 5  # plain and Lightning interleaved; the best of each counts
    cold: bool = True  # time archives -> cache in an empty folder
    loader_batches: Positive = 150  # the training loader alone
    loader_min_per_class: Annotated[int, Field(ge=0, le=100_000)] = 3000  # rebalancing on
    epoch_model: Model = "lenet"  # epoch time with jitter on vs off
    epoch_batches: Positive | None = None  # null: whole epochs
    epoch_repeats: Positive = 3  # jitter on and off alternating; the fastest of each counts
    inference_batch: Annotated[int, Field(ge=1, le=65536)] = 1024
    latency_runs: Positive = 200
    memory: bool = True  # peak memory of a training run with workers
    memory_workers: Annotated[int, Field(ge=0, le=64)] = 2
    memory_batches: Positive = 200
    # seconds spent measuring the convolution peak
    peak_seconds: Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)] = 4.0
    output_dir: str = "experiments/benchmarks/results"


def register_bench_schema() -> None:
    """`_bench_defaults` in Hydra's ConfigStore, for conf/bench.yaml (idempotent)."""
    store_defaults(None, "_bench_defaults", {"bench": defaults(BenchSettings)})


def check_bench(bench: Any) -> BenchSettings:
    """`bench.*` checked (ConfigError naming the key and the valid range)."""
    return validate(BenchSettings, bench, "bench")
