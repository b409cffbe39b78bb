"""Fault suite, command options: every option of tsr.evaluate / tsr.predict / tsr.export is
checked against the schema (tsr/inference/settings.py) before a checkpoint, an image or
the data set is read: one line naming the option and the valid range, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from tsr.errors import ConfigError
from tsr.inference.settings import OPSETS, check_command, register_command_schemas

from ..conftest import CONF_DIR, run_tsr

CASES = [
    ("evaluate", "batch_size=0", "batch_size=0 must be a whole number >= 1"),
    ("evaluate", "batch_size=many", "batch_size='many' must be a whole number >= 1"),
    ("evaluate", "tta=maybe", "tta='maybe' must be true or false"),
    ("evaluate", "split=train", "valid choices: test, val"),
    ("evaluate", "mistakes=-1", "mistakes=-1 must be a whole number >= 0"),
    ("evaluate", "data_type=sepia", "valid choices: rgb, gray, sharpen, hist, clahe"),
    ("predict", "top_k=0", "top_k=0 must be a whole number >= 1 and <= 1000"),
    ("predict", "top_k=abc", "top_k='abc' must be a whole number"),
    ("predict", "tta=maybe", "tta='maybe' must be true or false"),
    ("predict", "max_pixels=-5", "max_pixels=-5 must be a whole number >= 1"),
    ("predict", "sheet_rows=0", "sheet_rows=0 must be a whole number >= 1"),
    ("evaluate", "ckpt=[]", "ckpt=[] names no checkpoint: give one"),
    ("evaluate", "ckpt=[a.ckpt,b.ckpt,a.ckpt]", "ckpt lists a.ckpt twice: a committee"),
    ("predict", "ckpt=[]", "ckpt=[] names no checkpoint"),
    ("predict", "ckpt=[a.ckpt,./a.ckpt]", "ckpt lists ./a.ckpt twice (as a.ckpt)"),
    ("export", "opset=5", f"opset=5 must be a whole number >= {OPSETS[0]} and <= {OPSETS[1]}"),
    ("export", "format=tflite", "valid choices: onnx, torchscript"),
    ("export", "check=perhaps", "check='perhaps' must be true or false"),
]


@pytest.mark.parametrize(("command", "override", "message"), CASES)
def test_bad_options_are_refused_with_the_range(command, override, message) -> None:
    register_command_schemas()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(command, overrides=[override])
    with pytest.raises(ConfigError) as error:
        check_command(command, cfg)
    assert message in str(error.value)


def test_good_defaults_pass() -> None:
    register_command_schemas()
    for command in ("evaluate", "predict", "export"):
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            check_command(command, compose(command))


@pytest.mark.slow  # measured ~6 s: a subprocess
def test_export_opset_5_exits_2_without_traceback_or_files(tmp_path: Path) -> None:
    result = run_tsr("export", "ckpt=nothing.ckpt", "opset=5", root=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "opset=5 must be a whole number >= 18" in output
    assert "Traceback" not in output
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.onnx"))


def test_a_committee_listing_one_checkpoint_twice_is_refused_however_it_is_built() -> None:
    """The same str object twice (a list built in Python) is caught as well as two equal
    strings parsed from the command line."""
    path = "run/checkpoints/a.ckpt"
    with pytest.raises(ConfigError, match=r"ckpt lists run/checkpoints/a.ckpt twice: a"):
        check_command("evaluate", {"ckpt": [path, path]})
    check_command("evaluate", {"ckpt": [path, "run/checkpoints/b.ckpt"]})  # two: fine
