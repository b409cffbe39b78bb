"""TensorBoard: two tiny real runs fill one log root; TensorBoard itself reads them back."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
from tensorboard.plugins.hparams import plugin_data_pb2

from tsr.data.classes import CLASS_NAMES
from tsr.errors import ConfigError
from tsr.training.run import train

from .conftest import CONF_DIR, run_tsr

RUNS = {"lenet": "gray", "multiscale_small": "clahe"}
TINY = [
    "trainer.max_epochs=2",
    "debug=fast",
    "trainer.limit_train_batches=10",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


def _train(root: Path, cache_dir: Path, mirror: Path, model: str, preprocessing: str, *extra):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"paths.data_dir={cache_dir}",
                f"paths.output_dir={root / 'runs' / model}",
                f"paths.log_dir={root}",
                f"data.mirror={mirror}",
                f"model={model}",
                f"data.preprocessing={preprocessing}",
                *TINY,
                *extra,
            ],
        )
    return train(cfg)


@pytest.fixture(scope="module")
def log_root(tmp_path_factory, cache_dir: Path, mirror: Path) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("logs")
    metrics = {model: _train(root, cache_dir, mirror, model, pre) for model, pre in RUNS.items()}
    return root, metrics


def _runs(root: Path) -> EventMultiplexer:
    multiplexer = EventMultiplexer(size_guidance={"histograms": 0, "images": 0, "scalars": 0})
    multiplexer.AddRunsFromDirectory(str(root / "tb"))
    multiplexer.Reload()
    return multiplexer


def _run_name(multiplexer: EventMultiplexer, model: str) -> str:
    (name,) = [run for run in multiplexer.Runs() if run.startswith(f"{model}/{RUNS[model]}/")]
    return name


def test_each_run_is_named_by_model_and_data_type(log_root) -> None:
    root, _ = log_root
    runs = sorted(_runs(root).Runs())
    assert len(runs) == 2
    assert [run.rsplit("/", 1)[0] for run in runs] == ["lenet/gray", "multiscale_small/clahe"]


@pytest.mark.parametrize("model", list(RUNS))
def test_scalars_hparams_images_histograms_graph(log_root, model: str) -> None:
    root, metrics = log_root
    multiplexer = _runs(root)
    run = _run_name(multiplexer, model)
    tags = multiplexer.Runs()[run]

    scalars = set(tags["scalars"])
    assert "epoch" not in scalars  # not the first card of the Time Series tab
    assert {
        "train/loss",
        "train/acc",
        "train/lr",
        "val/loss",
        "val/acc",
        "val/acc_best",
        "test/acc",
        "test/loss",
        "hp/val_acc_best",
        "hp/test_acc",
    } <= scalars
    assert len(multiplexer.Scalars(run, "val/acc")) == 2  # one per epoch
    (hp_test,) = multiplexer.Scalars(run, "hp/test_acc")
    assert hp_test.value == pytest.approx(metrics[model]["test/acc"])

    content = multiplexer.PluginRunToTagToContent("hparams")[run]
    # no experiment summary per run: TensorBoard builds one over all runs (see the server test)
    assert "_hparams_/experiment" not in content
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["Model"].string_value == model
    assert hparams["Data type"].string_value == RUNS[model]
    for key in (
        "optimizer.lr",
        "model.dropout",
        "data.min_per_class",
        "data.batch_size",
        "trainer.max_epochs",
        "data.jitter.rotate_deg",
    ):
        assert key in hparams, key
    assert hparams["trainer.max_epochs"].number_value == 2
    assert hparams["Epochs"].number_value == 2 and hparams["Status"].string_value == "complete"
    assert hparams["Kind"].string_value == "run"

    assert set(tags["images"]) == {
        "samples/preprocessed",
        "samples/jittered",
        "val/worst_misclassified",
        "test/confusion_matrix",
        "test/per_class_accuracy",
        "test/reliability",
    }
    (grid,) = multiplexer.Images(run, "samples/jittered")
    assert (grid.width, grid.height) == (240, 240)  # 43 classes in a 7x7 grid of 32+2 px
    (confusion,) = multiplexer.Images(run, "test/confusion_matrix")
    assert confusion.width >= 1000  # 43x43 with class names

    histograms = set(tags["histograms"])
    assert "weights/backbone.classifier.6.weight" in histograms or model != "lenet"
    assert len([t for t in histograms if t.endswith(".weight")]) >= 4
    assert all(len(multiplexer.Histograms(run, tag)) == 2 for tag in histograms)
    assert tags["graph"]


@pytest.mark.real_data
@pytest.mark.parametrize(("model", "width"), [("lenet", 84), ("multiscale_small", 100)])
def test_projector_has_features_metadata_and_sprite(log_root, model: str, width: int) -> None:
    root, _ = log_root
    (run_dir,) = (root / "tb" / model / RUNS[model]).iterdir()
    config = (run_dir / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "val_features:' in config and "single_image_dim: 32" in config
    (folder,) = run_dir.glob("*/val_features")
    metadata = (folder / "metadata.tsv").read_text().splitlines()
    assert metadata[0] == "class\tname\tpredicted"
    rows = [line.split("\t") for line in metadata[1:]]
    assert len(rows) == 2000 and {name for _, name, _ in rows} <= set(CLASS_NAMES)
    # a stratified sample: every one of the 43 classes is in the projector
    assert len({c for c, _, _ in rows}) == 43
    assert all(CLASS_NAMES[int(c)] == name for c, name, _ in rows)
    vectors = (folder / "tensors.tsv").read_text().splitlines()
    assert len(vectors) == 2000 and len(vectors[0].split("\t")) == width
    assert (folder / "sprite.png").stat().st_size > 10_000


def test_heavy_views_switch_off(tmp_path: Path, cache_dir: Path, mirror: Path) -> None:
    _train(tmp_path, cache_dir, mirror, "lenet", "gray", "callbacks=minimal")
    multiplexer = _runs(tmp_path)
    (run,) = multiplexer.Runs()
    tags = multiplexer.Runs()[run]
    assert not tags["images"] and not tags["histograms"] and not tags["graph"]
    assert {"val/acc", "test/acc", "hp/test_acc"} <= set(tags["scalars"])
    assert not list((tmp_path / "tb").rglob("projector_config.pbtxt"))


@pytest.mark.slow  # measured 7.7 s (AMD EPYC, 2 cores, beside a training run)
def test_runs_started_in_the_same_second_get_their_own_runs(
    tmp_path: Path, cache_dir: Path, mirror: Path
) -> None:
    """Two commands launched together resolve one launch time; each run still gets its own
    TensorBoard run (they were drawn as one, points interleaved) and its config records it.
    A run refused at its config check leaves no empty run behind."""
    stamp = "2026-12-06_17-35-27"

    def run(name: str, *extra: str) -> dict:
        out = f"paths.output_dir={tmp_path / name}"
        version = f"logger.tensorboard.version={stamp}"
        return _train(
            tmp_path, cache_dir, mirror, "lenet", "gray", "callbacks=minimal", version, out, *extra
        )

    run("a")
    run("b")
    assert sorted(_runs(tmp_path).Runs()) == [f"lenet/gray/{stamp}", f"lenet/gray/{stamp}.2"]
    recorded = [
        OmegaConf.load(tmp_path / n / "config.yaml").logger.tensorboard.version for n in "ab"
    ]
    assert recorded == [stamp, f"{stamp}.2"]

    with pytest.raises(ConfigError):
        run("c", "data.batch_size=0")
    assert len(list((tmp_path / "tb" / "lenet" / "gray").iterdir())) == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.real_data
def test_tensorboard_server_serves_both_runs(log_root) -> None:
    root, _ = log_root
    port = _free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "tensorboard.main", "--logdir", str(root / "tb")),
            *("--host", "127.0.0.1", "--port", str(port), "--load_fast", "false"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/data"
    try:
        deadline = time.monotonic() + 90
        runs: list[str] = []
        while time.monotonic() < deadline:
            try:
                runs = _get(f"{base}/runs")
                if len(runs) == 2:
                    break
            except OSError:
                pass
            if server.poll() is not None:
                pytest.fail(f"tensorboard exited: {server.stderr.read()[-2000:]}")
            time.sleep(0.5)
        assert sorted(run.rsplit("/", 1)[0] for run in runs) == [
            "lenet/gray",
            "multiscale_small/clahe",
        ]
        for run in runs:
            query = urllib.parse.urlencode({"run": run, "tag": "val/acc"})
            series = _get(f"{base}/plugin/scalars/scalars?{query}")
            assert [step for _, step, _ in series] == [9, 19]  # epochs of 10 steps
            assert all(0 <= value <= 1 for _, _, value in series)
        projector_runs = _get(f"{base}/plugin/projector/runs")
        assert sorted(projector_runs) == sorted(runs)
        # the HParams tab: one experiment over both runs, opening on what tells them apart
        request = urllib.request.Request(
            f"{base}/plugin/hparams/experiment",
            data=json.dumps({"experimentName": ""}).encode(),
            headers={"Content-Type": "application/json", "X-TensorBoard-Feature-Flags": "{}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            experiment = json.loads(response.read())
        infos = experiment["hparamInfos"]
        names = [info["name"] for info in infos]
        differing = [info["name"] for info in infos if info.get("differs")]
        assert {"Model", "Data type"} <= set(differing)
        assert names[:2] == ["Data type", "Model"]  # the first columns the tab shows
        assert names[: len(differing)] == differing  # the columns the tab opens with
        assert "model.stage1" in names and "model.pool" in names  # options of one model each
        stn = next(info for info in infos if info["name"] == "model.stn")
        assert stn["type"] == "DATA_TYPE_STRING"  # true/false, not 0.0/1.0
        metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
        assert {"hp/test_acc", "hp/val_acc_best"} <= metrics
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow  # measured > 5 s (Xeon, 2 cores)
def test_multirun_jobs_get_their_own_runs(tmp_path: Path, cache_dir: Path, mirror: Path) -> None:
    """`-m` jobs that differ only in a hyper-parameter must not share a TensorBoard folder."""
    result = run_tsr(
        "train",
        *("-m", "model.backbone_options.dropout=0.1,0.2"),
        *("debug=fast", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"),
        *("trainer.limit_test_batches=1", "callbacks=minimal"),
        *(f"paths.data_dir={cache_dir}", f"data.mirror={mirror}"),
        root=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p.name for p in (tmp_path / "logs" / "tb" / "lenet" / "clahe").iterdir())
    assert len(runs) == 2 and runs[0].endswith("_0") and runs[1].endswith("_1")
