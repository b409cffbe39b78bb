"""`trainer=ddp`: two CPU processes (gloo) train one model and land where one process
does, with the same global batch; one set of results is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run_tsr

pytestmark = pytest.mark.slow


def _train(root: Path, cache_dir: Path, mirror: Path, *overrides: str) -> dict:
    result = run_tsr(
        "train",
        "model=lenet",
        "data.preprocessing=gray",
        "model.optimizer.lr=2e-3",
        "trainer.max_epochs=3",
        "callbacks=minimal",
        "trainer.enable_progress_bar=false",
        f"paths.data_dir={cache_dir}",
        f"data.mirror={mirror}",
        *overrides,
        root=root,
        # one compute thread per process: two processes share this machine's cores
        env={"OMP_NUM_THREADS": "1"},
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run,) = (root / "logs" / "runs").iterdir()
    return {
        "run": run,
        "output": result.stdout + result.stderr,
        **json.loads((run / "metrics.json").read_text()),
    }


def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path: Path, cache_dir, mirror) -> None:
    single = _train(tmp_path / "single", cache_dir, mirror, "trainer=cpu")
    ddp = _train(
        tmp_path / "ddp",
        cache_dir,
        mirror,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "data.batch_size=64",  # per process: the same global batch of 128 as one process
    )
    assert "distributed_backend=gloo" in ddp["output"]
    assert (
        "world_size=2" in ddp["output"] or "All distributed processes registered" in ddp["output"]
    )
    assert ddp["epochs"] == single["epochs"] == 3
    assert ddp["val/acc_best"] > 0.8
    assert ddp["val/acc_best"] == pytest.approx(single["val/acc_best"], abs=0.03)
    assert ddp["test/acc"] == pytest.approx(single["test/acc"], abs=0.04)
    # rank 0 alone writes results: one run folder, one summary
    assert ddp["output"].count("metrics written to") == 1
    assert (ddp["run"] / "checkpoints" / "last.ckpt").is_file()
    print(
        f"\none process: val {single['val/acc_best']:.4f} test {single['test/acc']:.4f}; "
        f"DDP 2x gloo: val {ddp['val/acc_best']:.4f} test {ddp['test/acc']:.4f}"
    )
