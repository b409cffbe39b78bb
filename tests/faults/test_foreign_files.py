"""Fault suite, files tsr did not write: checkpoints that are pickles with a payload,
nested data, absurd hyper-parameters; run folders with a corrupt config.yaml; checkpoints
inside folders another program made. One clear error or a warning, nothing run, nothing
written into a folder that is not tsr's."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from tsr.errors import CheckpointError
from tsr.inference.checkpoint import load_classifier
from tsr.training.resume import find_run_to_resume, resume_point

from ..conftest import run_tsr


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/tsr-pwned",))


def _plain_pickle(path: Path) -> Path:
    path.write_bytes(pickle.dumps({"state_dict": Payload()}))
    return path


def _torch_payload(path: Path) -> Path:
    torch.save({"state_dict": {}, "loops": Payload()}, path)
    return path


@pytest.mark.parametrize("make", [_plain_pickle, _torch_payload])
def test_resume_from_a_pickle_payload_is_refused_without_running_it(tmp_path: Path, make) -> None:
    ckpt = make(tmp_path / "evil.ckpt")
    cfg = OmegaConf.create({"resume": False, "ckpt_path": str(ckpt), "paths": {}})
    with pytest.raises(CheckpointError) as error:
        resume_point(cfg)
    message = str(error.value)
    assert "\n" not in message and len(message) < 400
    assert str(ckpt) in message
    assert not Path("/tmp/tsr-pwned").exists()


def test_deeply_nested_data_is_a_clear_error(tmp_path: Path) -> None:
    from tsr.models import SignClassifier

    model = SignClassifier("lenet", class_names=[str(i) for i in range(43)], data_type="gray")
    nested: list = []
    for _ in range(20_000):
        nested = [nested]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200_000)  # to write it; tsr reads with the default limit
    try:
        hparams = {**model.hparams, "backbone_options": {"hidden": nested}}
        torch.save(
            {"state_dict": model.state_dict(), "hyper_parameters": hparams}, tmp_path / "d.ckpt"
        )
    finally:
        sys.setrecursionlimit(limit)
    with pytest.raises(CheckpointError) as error:
        load_classifier(tmp_path / "d.ckpt", "cpu")
    assert "d.ckpt" in str(error.value)


def test_absurd_hyper_parameters_are_refused_before_allocation(tmp_path: Path) -> None:
    from tsr.models import SignClassifier

    model = SignClassifier("lenet", class_names=[str(i) for i in range(43)], data_type="gray")
    ckpt = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    for key, value, message in [
        ("image_size", 10**6, "image_size=1000000 must be a whole number >= 8 and <= 512"),
        ("backbone_options", {"hidden": [10**9, 84]}, "must be a list of whole numbers"),
        ("label_smoothing", 5.0, "label_smoothing=5.0 must be a number >= 0 and < 1"),
        ("backbone_options", {"hidden": [60000, 60000]}, "parameters, more than tsr builds"),
    ]:
        bad = {**ckpt, "hyper_parameters": {**ckpt["hyper_parameters"], key: value}}
        path = tmp_path / f"{key}.ckpt"
        torch.save(bad, path)
        with pytest.raises(CheckpointError) as error:
            load_classifier(path, "cpu")
        assert message in str(error.value), str(error.value)


def test_a_corrupt_config_in_an_old_run_is_skipped_with_a_warning(tmp_path: Path, caplog) -> None:
    run = tmp_path / "logs" / "runs" / "2026-01-01_00-00-00"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    (run / "config.yaml").write_text("model: [unclosed\n  : : :")
    cfg = OmegaConf.create({"paths": {"log_dir": str(tmp_path / "logs")}, "seed": 1})
    assert find_run_to_resume(cfg) is None
    assert "its config.yaml is unreadable" in caplog.text and str(run) in caplog.text


@pytest.mark.slow  # measured ~25 s: a short training run in a subprocess
def test_a_foreign_checkpoints_folder_is_not_continued_in_place(
    tmp_path: Path, tiny_checkpoint: Path, cache_dir, mirror
) -> None:
    """A Lightning checkpoint in someone else's `*/checkpoints/` folder: a new run starts
    from it; the folder gets no config.yaml or metrics.json and its temp files stay."""
    foreign = tmp_path / "their-project" / "checkpoints"
    foreign.mkdir(parents=True)
    ckpt = foreign / "model.ckpt"
    ckpt.write_bytes(tiny_checkpoint.read_bytes())
    (foreign.parent / "config.yaml").write_text("theirs: true\n")
    keep = foreign / ".their.tmp"
    keep.write_text("theirs")
    result = run_tsr(
        "train",
        "model=lenet",
        "data.preprocessing=gray",
        "debug=fast",
        f"paths.data_dir={cache_dir}",
        f"data.mirror={mirror}",
        f"ckpt_path={ckpt}",
        "trainer.max_epochs=2",
        root=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (foreign.parent / "config.yaml").read_text() == "theirs: true\n"
    assert not (foreign.parent / "metrics.json").exists()
    assert keep.exists()
    assert list((tmp_path / "logs" / "runs").glob("*/metrics.json"))  # a new run of its own
