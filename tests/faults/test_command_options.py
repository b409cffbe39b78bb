"""Fault suite, command options: every option of tsr.evaluate / tsr.predict / tsr.export is
checked against the schema (tsr/inference/settings.py) before a checkpoint, an image or
the data set is read: one line naming the option and the valid range, exit status 2."""

from __future__ import annotations

import re
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
    ("evaluate", "roi_crop=0.7", "roi_crop=0.7 must be a number >= 0 and <= 0.5 or one of whole"),
    ("evaluate", "roi_crop=tight", "roi_crop='tight' must be a number >= 0 and <= 0.5 or one"),
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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["inputs=/photos/speed=50.png"], "cannot read the argument 'inputs=/photos/speed=50.png'"),
        (["ckpt=/runs/it's/last.ckpt"], "quote it inside single quotes for the shell"),
        (["model"], "each argument is key=value (e.g. model=multiscale)"),
        (["-m", "seed=1,2", "--cfg", "job"], "--cfg and --multirun cannot be used together"),
    ],
)
def test_a_command_line_hydra_cannot_read_is_one_line_with_the_fix(argv, message) -> None:
    from tsr.cli import command_line_problem

    assert message in command_line_problem(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ['inputs=["/photos/speed=50, left.png"]', "ckpt='/runs/a b/last.ckpt'"],
        ["--cfg", "job", "model=lenet", "~model.scheduler"],
        ["--config-name", "train", "hydra/launcher=basic", "+trainer.foo=1"],
        ["-m", "seed=1,2,3", "model.optimizer.lr=range(1,3)"],
        ["experiment=data_types", "data.preprocessing=rgb,gray"],  # its hydra.mode: MULTIRUN
        ["+model.scheduler={_target_:torch.optim.lr_scheduler.OneCycleLR,max_lr:0.01}"],
    ],
)
def test_command_lines_hydra_reads_pass_the_check(argv) -> None:
    from tsr.cli import command_line_problem

    assert command_line_problem(argv) is None


@pytest.mark.slow  # measured 13 s beside two training runs: a subprocess
def test_a_path_with_an_equals_sign_exits_2_with_how_to_quote_it(tmp_path: Path) -> None:
    """Hydra alone answers "mismatched input '=' expecting <EOF>" with exit status 1, which
    tsr.predict gives to "some images failed"."""
    result = run_tsr("predict", "ckpt=x.ckpt", "inputs=/photos/speed=50.png", root=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "cannot read the argument 'inputs=/photos/speed=50.png'" in result.stderr
    assert """'inputs=["/photos/a=b, c.png"]'""" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("/etc/passwd", "Could not parse SQLAlchemy URL"),  # a path, not a URL
        ("sqlite:////no-such-folder/x/study.db", "the folder /no-such-folder/x does not exist"),
        ("sqlite:////proc/study.db", "unable to open database file"),  # not writable
    ],
)
def test_a_sweep_storage_that_cannot_open_says_what_the_option_takes(url, reason) -> None:
    from tsr.sweeps.study import open_storage

    with pytest.raises(ConfigError) as error:
        open_storage(url, heartbeat_s=60)
    message = str(error.value)
    assert reason in message and "leave sweep.storage unset" in message, message
    assert "\n" not in message  # SQLAlchemy's "(Background on this error at: ...)" left out


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("bench.repeats=0", "bench.repeats=0 must be a whole number >= 1"),  # was ValueError
        ("bench.peak_seconds=-1", "bench.peak_seconds=-1 must be a number > 0"),  # ran on
        ("bench.steps=0", "bench.steps=0 must be a whole number >= 1"),
        ("bench.steps={lenet:0}", "bench.steps.lenet=0 must be a whole number >= 1"),
        ("bench.models=[alexnet]", "model 'alexnet' is not in conf/model/ (inception, lenet"),
        ("bench.precisions=[fp8]", "valid choices: 32-true, bf16-mixed"),
        # allowed before, then a KeyError after all the measuring (no fp16 peak or plain loop)
        ("bench.precisions=[16-mixed]", "unknown bench.precisions='16-mixed'; valid choices"),
        ("bench.data_type=sepia", "valid choices: rgb, gray, sharpen, hist, clahe"),
        ("bench.batch_size=-1", "bench.batch_size=-1 must be a whole number >= 1"),
        ("bench.memory_workers=999", "bench.memory_workers=999 must be a whole number >= 0"),
    ],
)
def test_bad_bench_values_are_refused_before_anything_is_measured(override, message) -> None:
    from tsr.benchmarks.settings import check_bench

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        bench = compose("bench", overrides=[override]).bench
    with pytest.raises(ConfigError) as error:
        check_bench(bench)
    assert message in str(error.value)


def test_the_bench_defaults_pass_and_are_the_schema() -> None:
    from tsr.benchmarks.settings import BenchSettings, check_bench

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        bench = compose("bench", overrides=["bench.steps=3"]).bench
    assert check_bench(bench).steps == 3
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        assert check_bench(compose("bench").bench) == BenchSettings()


def test_an_output_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    from tsr.io.folders import folder_problem

    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    assert "is a file" in folder_problem(str(a_file), "output_dir")
    under = folder_problem(str(a_file / "run" / "1"), "hydra.run.dir")
    assert f"cannot be made: {a_file} is a file" in under and "(hydra.run.dir=...)" in under
    assert folder_problem(str(tmp_path / "new" / "run")) is None  # made later, not now
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.txt"]  # nothing left


@pytest.mark.slow  # measured ~7 s each: a subprocess
@pytest.mark.parametrize(
    ("command", "args", "setting"),
    [
        ("evaluate", ["ckpt=x.ckpt", "output_dir={file}"], "output_dir"),
        ("train", ["-m", "seed=1,2", "hydra.sweep.dir={file}/sub"], "hydra.sweep.dir"),
    ],
)
def test_a_command_whose_folder_is_a_file_exits_2_before_hydra_makes_it(
    tmp_path: Path, command, args, setting
) -> None:
    """Hydra made the folder before any tsr code ran: a FileExistsError traceback."""
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    result = run_tsr(command, *[a.format(file=a_file) for a in args], root=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    assert f"name a folder you can write to ({setting}=...)" in result.stderr


def test_bench_refuses_an_output_folder_that_is_a_file_before_measuring(tmp_path: Path) -> None:
    from tsr.benchmarks.suite import run

    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    refused = pytest.raises(ConfigError, match=r"is a file: name a folder .*bench\.output_dir")
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"), refused:
        run([f"bench.output_dir={a_file}"])


def test_a_sweep_summary_without_a_study_says_to_run_the_sweep(tmp_path: Path) -> None:
    """It said the storage folder did not exist, and to "create it"."""
    from tsr.sweeps.runner import run

    refused = pytest.raises(ConfigError, match=r"no study 'lenet' in .*: run the sweep first")
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"), refused:
        run(["summary", f"paths.log_dir={tmp_path}"])
    assert not any(tmp_path.iterdir())


def test_a_tensorboard_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    """Was a NotADirectoryError traceback from the logger's folder claim."""
    from tsr.training.run import _claim_log_folders

    from ..conftest import compose_train

    a_file = tmp_path / "tb.txt"
    a_file.write_text("not a folder")
    cfg = compose_train(
        tmp_path, tmp_path / "data", tmp_path / "mirror", f"logger.tensorboard.save_dir={a_file}"
    )
    with pytest.raises(ConfigError, match=r"is a file: name a .*\(logger\.tensorboard\.save_dir="):
        _claim_log_folders(cfg)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # ignored before, silently
        (["robustness_baseline={file}"], "robustness_baseline= compares a robustness"),
        # found after the whole corrupted test set was built and scored (minutes)
        (["robustness=true", "robustness_baseline={file}"], "is not a tsr.evaluate report.json"),
    ],
)
def test_a_robustness_baseline_is_checked_before_any_checkpoint_or_image(
    tmp_path: Path, overrides, message
) -> None:
    from tsr.inference.evaluation import evaluate

    a_file = tmp_path / "report.json"
    a_file.write_text('{"model": "lenet"}')  # a report without a robustness section
    register_command_schemas()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "evaluate",
            overrides=[
                "ckpt=missing.ckpt",  # not read: the baseline is refused first
                f"data_dir={tmp_path / 'data'}",
                f"output_dir={tmp_path / 'out'}",
                *[o.format(file=a_file) for o in overrides],
            ],
        )
    with pytest.raises(ConfigError, match=re.escape(message)):
        evaluate(cfg)
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()
