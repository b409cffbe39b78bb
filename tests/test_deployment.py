"""An ONNX export is self-contained: a program that imports no tsr module (the reference
client written beside the model) reproduces tsr.predict's top-1 and probabilities on raw
official test images, for every data type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from tsr.data.archives import TEST_ARCHIVE, TEST_LABELS_ARCHIVE
from tsr.data.gtsrb import TEST_DIR, TEST_LABELS_CSV
from tsr.data.preprocessing import DATA_TYPES
from tsr.inference.exporting import export
from tsr.inference.prediction import predict

from .conftest import CONF_DIR, compose_train

# runs the client with every `tsr` import refused: the deployment has no tsr
NO_TSR = """
import importlib.abc, runpy, sys
class NoTsr(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tsr" or name.startswith("tsr."):
            raise ImportError("a deployment has no tsr: " + name)
sys.meta_path.insert(0, NoTsr())
client, *args = sys.argv[1:]
sys.argv = [client, *args]
runpy.run_path(client, run_name="__main__")
assert not any(m == "tsr" or m.startswith("tsr.") for m in sys.modules)
"""


@pytest.fixture(scope="module")
def raw_images(tmp_path_factory, mirror: Path) -> list[Path]:
    """200 official test images as the archive holds them (spread over the test set)."""
    folder = tmp_path_factory.mktemp("raw-200")
    with zipfile.ZipFile(mirror / TEST_LABELS_ARCHIVE) as labels_zip:
        names = [
            r.split(";")[0] for r in labels_zip.read(TEST_LABELS_CSV).decode().splitlines()[1:]
        ]
    step = max(1, len(names) // 200)
    paths = []
    with zipfile.ZipFile(mirror / TEST_ARCHIVE) as test_zip:
        for name in names[::step][:200]:
            (folder / name).write_bytes(test_zip.read(f"{TEST_DIR}/{name}"))
            paths.append(folder / name)
    return paths


@pytest.mark.slow  # measured 2.5-5.6 s per data type, 22 s for the five (run, export, predict)
@pytest.mark.parametrize("data_type", DATA_TYPES)
def test_the_reference_client_gives_tsr_predicts_answers(
    tmp_path: Path, cache_dir: Path, mirror: Path, raw_images: list[Path], data_type: str
) -> None:
    run = compose_train(
        tmp_path,
        cache_dir,
        mirror,
        "model=lenet",
        f"data.preprocessing={data_type}",
        "debug=fast",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=30",
        "logger=none",
        "callbacks=minimal",
        "test=false",
    )
    from tsr.training.run import train

    ckpt = Path(train(run, show_summary=False)["best_checkpoint"])
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        exported = compose("export", overrides=[f"ckpt={ckpt}", f"output_dir={tmp_path / 'x'}"])
        model, sidecar = export(exported)
        listed = "inputs=[" + ",".join(f"'{p}'" for p in raw_images) + "]"
        wanted = predict(
            compose(
                "predict",
                overrides=[
                    f"ckpt={ckpt}",
                    listed,
                    "top_k=43",
                    "sheet=false",
                    "device=cpu",
                    f"output_dir={tmp_path / 'p'}",
                ],
            )
        )
    client = model.with_name(f"{model.name}.client.py")
    assert client.is_file() and json.loads(sidecar.read_text())["client"] == client.name
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_TSR,
            str(client),
            str(model),
            *map(str, raw_images),
            "--top-k",
            "43",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(wanted.predictions) == len(raw_images)
    for row, expected in zip(rows, wanted.predictions, strict=True):
        assert row["top"][0]["class_id"] == expected.top[0]["class_id"], row["image"]
        got = {t["class_id"]: t["probability"] for t in row["top"]}
        want = {t["class_id"]: t["probability"] for t in expected.top}
        np.testing.assert_allclose([got[c] for c in want], list(want.values()), atol=1e-5)
