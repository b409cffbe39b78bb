"""Checkpoints load safely: a trained one rebuilds exactly; foreign, damaged, tampered or
code-carrying files give one clear error and run nothing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tsr.errors import CheckpointError, ConfigError
from tsr.inference.checkpoint import load_classifier

from .conftest import TINY_DATA_TYPE


def _raw(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_a_trained_checkpoint_rebuilds_with_everything_inference_needs(tiny_checkpoint: Path):
    classifier = load_classifier(tiny_checkpoint, "cpu")
    assert classifier.data_type == TINY_DATA_TYPE
    assert classifier.image_size == 32 and classifier.in_channels == 1
    assert len(classifier.class_names) == 43 and classifier.class_names[14] == "Stop"
    assert not classifier.model.training
    saved = _raw(tiny_checkpoint)["state_dict"]
    for name, value in classifier.model.state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert float(classifier.model.input_std.min()) > 0.05  # the training split's statistics


class _RunsCode:
    """Unpickling this runs `open(marker, "w")`, as a malicious checkpoint could run anything."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_that_carries_code_is_refused_without_running_it(
    tmp_path: Path, tiny_checkpoint: Path
):
    payload = _raw(tiny_checkpoint)
    marker = tmp_path / "pwned"
    payload["callbacks"] = {"evil": _RunsCode(marker)}
    path = tmp_path / "evil.ckpt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        load_classifier(path, "cpu")
    assert not marker.exists()


def _tampered(tmp_path: Path, source: Path, edit) -> Path:
    payload = _raw(source)
    edit(payload)
    path = tmp_path / "edited.ckpt"
    torch.save(payload, path)
    return path


def _set_nan(payload: dict) -> None:
    payload["state_dict"]["backbone.classifier.6.bias"][0] = float("nan")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["state_dict"].pop("backbone.classifier.6.bias"), "weights do not fit"),
        (
            lambda p: p["state_dict"].__setitem__("input_std", torch.ones(1, 3, 1, 1)),
            "weights do not fit",
        ),
        (lambda p: p["hyper_parameters"].__setitem__("num_classes", 10), "class_names"),
        (lambda p: p["hyper_parameters"].__setitem__("backbone", "alexnet"), "do not build"),
        (lambda p: p["hyper_parameters"].pop("class_names"), "lack class_names"),
        (lambda p: p.pop("state_dict"), "not a tsr checkpoint"),
        (_set_nan, "NaN"),
    ],
)
def test_a_tampered_checkpoint_gives_a_clear_error(
    tmp_path: Path, tiny_checkpoint: Path, edit, message: str
):
    with pytest.raises(CheckpointError, match=message):
        load_classifier(_tampered(tmp_path, tiny_checkpoint, edit), "cpu")


def test_files_that_are_not_tsr_checkpoints(tmp_path: Path, tiny_checkpoint: Path):
    foreign = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a tsr checkpoint"):
        load_classifier(foreign, "cpu")
    truncated = tmp_path / "truncated.ckpt"
    data = tiny_checkpoint.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_classifier(truncated, "cpu")
    text = tmp_path / "notes.ckpt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint") as error:
        load_classifier(text, "cpu")
    # no detail from deep inside the reader: it said "(101)" (a key) for this file
    assert "checkpoint: it is damaged, truncated or not a checkpoint" in str(error.value)
    # bytes the weights-only unpickler reads as opcodes and fails on with IndexError
    # (a text file such as /etc/passwd, random bytes): found by fuzzing, once a traceback
    rng = np.random.default_rng(0)
    for name, data in [
        ("passwd.ckpt", b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/nologin\n"),
        *((f"random{i}.ckpt", rng.integers(0, 256, 2000, np.uint8).tobytes()) for i in range(30)),
    ]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match=r"not a (readable )?PyTorch checkpoint") as e:
            load_classifier(tmp_path / name, "cpu")
        assert "Python objects" not in str(e.value)  # bytes, not a payload


def test_missing_path_folder_and_no_path(tmp_path: Path, tiny_checkpoint: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_classifier(tmp_path / "nope.ckpt", "cpu")
    with pytest.raises(ConfigError, match=r"is a folder \(it holds"):
        load_classifier(tiny_checkpoint.parent, "cpu")
    with pytest.raises(ConfigError, match="pass ckpt="):
        load_classifier(None, "cpu")


def test_a_checkpoint_without_data_type_asks_for_it(tmp_path: Path, tiny_checkpoint: Path):
    old = _tampered(tmp_path, tiny_checkpoint, lambda p: p["hyper_parameters"].pop("data_type"))
    with pytest.raises(CheckpointError, match=r"does not record its data type.*data_type="):
        load_classifier(old, "cpu")
    assert load_classifier(old, "cpu", data_type="clahe").data_type == "clahe"
    with pytest.raises(ConfigError, match="model takes 1"):  # rgb has 3 channels
        load_classifier(old, "cpu", data_type="rgb")
    with pytest.raises(ConfigError, match="contradicts the checkpoint"):
        load_classifier(tiny_checkpoint, "cpu", data_type="gray")


def test_the_run_folder_config_names_the_data_type_in_the_hint(tmp_path: Path, tiny_checkpoint):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("data:\n  preprocessing: hist\n")
    (run / "checkpoints").mkdir()
    payload = _raw(tiny_checkpoint)
    payload["hyper_parameters"].pop("data_type")
    torch.save(payload, run / "checkpoints" / "last.ckpt")
    with pytest.raises(CheckpointError, match="pass data_type=hist"):
        load_classifier(run / "checkpoints" / "last.ckpt", "cpu")
    assert os.path.exists(run / "checkpoints" / "last.ckpt")


def test_a_checkpoint_whose_bytes_changed_is_refused(tmp_path: Path, tiny_checkpoint: Path):
    """One byte changed inside the weights (bit rot, a bad copy): torch.load alone returns
    the altered weights without a word; the stored CRC-32 catches it."""
    import zipfile

    with zipfile.ZipFile(tiny_checkpoint) as archive:
        largest = max(archive.infolist(), key=lambda info: info.compress_size)
    data = bytearray(tiny_checkpoint.read_bytes())
    header = largest.header_offset  # local header: 30 bytes, the name, the extra field
    name_len = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_len = int.from_bytes(data[header + 28 : header + 30], "little")
    start = header + 30 + name_len + extra_len
    data[start + largest.compress_size // 2] ^= 0x10
    damaged = tmp_path / "damaged.ckpt"
    damaged.write_bytes(bytes(data))
    assert torch.load(damaged, map_location="cpu", weights_only=True)  # torch does not notice
    with pytest.raises(
        CheckpointError, match=r"damaged.ckpt is damaged: its part .* fails its CRC"
    ):
        load_classifier(damaged, "cpu")
    load_classifier(tiny_checkpoint, "cpu")  # the intact file loads
