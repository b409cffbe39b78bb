"""`python -m tsr.bench` with tiny sizes: every measurement runs and is recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run_tsr


@pytest.mark.slow
def test_benchmark_smoke(tmp_path: Path, cache_dir: Path, mirror: Path) -> None:
    out = tmp_path / "results"
    result = run_tsr(
        "bench",
        "bench.models=[lenet,multiscale_small]",
        "bench.steps=3",
        "bench.warmup_steps=1",
        "bench.repeats=1",
        "bench.loader_batches=3",
        "bench.epoch_batches=3",
        "bench.epoch_repeats=1",
        "bench.latency_runs=5",
        "bench.inference_batch=32",
        "bench.memory_batches=3",
        "bench.peak_seconds=0.2",
        f"bench.output_dir={out}",
        f"paths.data_dir={cache_dir}",
        f"data.mirror={mirror}",
        root=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (report,) = out.glob("*.json")
    results = json.loads(report.read_text())
    assert results["peak"]["conv_flops"] > 1e9 and results["peak"]["conv_flops_bf16"] > 1e9
    assert set(results["machine"]["cpu_features"]) >= {"amx_bf16", "avx512_bf16"}
    if Path("/proc/cpuinfo").exists():  # what precision=auto reads besides the features
        assert results["machine"]["cpu_vendor"] and results["machine"]["cpu_family"].isdigit()
        assert f"family {results['machine']['cpu_family']} model" in result.stdout
    assert results["precision"] in ("32-true", "bf16-mixed") and results["precision_reason"]
    assert results["data"]["cold_preparation_s"] > 0 and results["data"]["warm_load_s"] > 0
    assert results["data"]["loader_images_per_s"] > 0
    assert [m["model"] for m in results["models"]] == ["lenet", "multiscale_small"]
    for row in results["models"]:
        assert row["macs"] > 0
        assert row["precision"] == results["precision"]  # auto: the same for every model
        assert set(row["precisions"]) == {"32-true", "bf16-mixed"}  # both, on every host
        for measured in row["precisions"].values():
            assert measured["plain_images_per_s"] > 0 and measured["tsr_images_per_s"] > 0
            assert 0 < measured["fraction_of_peak"] < 2
            assert measured["latency_ms"] > 0 and measured["batched_images_per_s"] > 0
        assert row["bf16_over_fp32"] > 0 and row["bf16_inference_over_fp32"] > 0
    lenet_fp32 = results["models"][0]["precisions"]["32-true"]  # bench.bare_lightning: [lenet]
    assert lenet_fp32["bare_lightning_images_per_s"] > 0
    assert "Lightning's own floor, lenet fp32" in result.stdout
    assert results["jitter"]["epoch_s_jitter"] > 0
    assert results["jitter"]["epoch_s_jitter_per_image"] > 0
    assert results["memory"]["processes"] >= 2  # main process and its workers
    assert results["memory"]["peak_pss_mib"] > 100
    assert len(results["targets"]) == 8
    assert "| target | measured | met |" in result.stdout
    assert report.with_suffix(".md").read_text().startswith("Benchmark of")
