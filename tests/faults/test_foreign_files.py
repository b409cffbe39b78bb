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


def _evaluated_folder(folder: Path, report: str, write_predictions) -> Path:
    """A folder laid out as tsr.evaluate writes it (report.json + predictions.npz)."""
    import numpy as np

    folder.mkdir()
    (folder / "report.json").write_text(report)
    write_predictions(folder / "predictions.npz", np)
    return folder


def _good(path, np) -> None:
    labels = np.arange(43) % 43
    np.savez(path, probabilities=np.eye(43)[labels], labels=labels)


@pytest.mark.parametrize(
    ("report", "write_predictions", "message"),
    [
        ('{"model": ', _good, "report.json: not readable JSON"),
        ("[1, 2]", _good, "report.json: not a tsr.evaluate report"),
        ('{"model": "x"}', lambda p, np: p.write_bytes(b"PK\x03\x04 cut"), "damaged or not a"),
        ('{"model": "x"}', lambda p, np: np.savez(p, probs=np.zeros(3)), "has no labels or"),
        (
            '{"model": "x"}',
            lambda p, np: np.savez(p, probabilities=np.zeros((5, 43)), labels=np.zeros(4)),
            "do not describe the same images",
        ),
        # argmax of an empty row was a ValueError traceback; NaN rows were compared as is
        (
            '{"model": "x"}',
            lambda p, np: np.savez(p, probabilities=np.zeros((43, 0)), labels=np.arange(43)),
            "its probabilities have 0 class columns",
        ),
        (
            '{"model": "x"}',
            lambda p, np: np.savez(p, probabilities=np.eye(43) / 0, labels=np.arange(43)),
            "its probabilities have NaN or inf values",
        ),
    ],
)
def test_compare_names_a_damaged_evaluate_folder(
    tmp_path: Path, capsys, report, write_predictions, message
) -> None:
    """Each was a traceback (JSONDecodeError, BadZipFile, AttributeError, KeyError)."""
    from tsr.compare import main

    good = _evaluated_folder(tmp_path / "good", '{"model": "x"}', _good)
    bad = _evaluated_folder(tmp_path / "bad", report, write_predictions)
    with pytest.raises(SystemExit) as exit_:
        main([str(good), str(bad)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "tsr.evaluate" in err, err


def test_report_leaves_out_a_damaged_metrics_file_with_a_warning(
    tmp_path: Path, capsys, caplog
) -> None:
    """A cut metrics.json (a disk that filled, a hand edit) was a JSONDecodeError traceback
    that hid every other run of the folder."""
    from tsr.report import main

    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "metrics.json").write_text(
        '{"model": "lenet", "seed": 1, "test/acc": 0.9}'
    )
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "metrics.json").write_text('{"model": "lenet", "te')
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "metrics.json").write_text("[0.9]")
    main([str(tmp_path)])
    assert "90.00%" in capsys.readouterr().out
    warned = [r.getMessage() for r in caplog.records]
    assert any("cut/metrics.json left out: not readable JSON" in w for w in warned), warned
    assert any("list/metrics.json left out: not a tsr.train" in w for w in warned), warned


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # was a ValueError traceback from the table's number format
        (["{tmp}/strings"], "no readable metrics.json under {tmp}/strings (1 left out, each"),
        # was "no metrics.json under ..." after argparse's usage block
        (["{tmp}/nowhere"], "no such folder: {tmp}/nowhere; give run or multirun folders"),
        ([], "the following arguments are required: folders (--help shows the usage)"),
    ],
)
def test_report_errors_are_one_line(tmp_path: Path, capsys, caplog, argv, message) -> None:
    from tsr.report import main

    (tmp_path / "strings").mkdir()
    (tmp_path / "strings" / "metrics.json").write_text('{"model": "lenet", "test/acc": "high"}')
    with pytest.raises(SystemExit) as exit_:
        main([a.format(tmp=tmp_path) for a in argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"tsr.report: error: {message.format(tmp=tmp_path)}" or (
        len(err.splitlines()) == 1 and message.format(tmp=tmp_path) in err
    ), err
    if argv == ["{tmp}/strings"]:
        assert any("test/acc is 'high', not a number" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{tmp}", "is a folder: name a file in a folder you can write to"),
        ("", "--json '.' is a folder"),
        ("{tmp}/good/report.json/x.json", "cannot be written: {tmp}/good/report.json is a file"),
    ],
)
def test_compare_checks_its_json_file_before_comparing(
    tmp_path: Path, capsys, target, message
) -> None:
    """Each was a traceback (IsADirectoryError, FileExistsError, OSError) after the table."""
    from tsr.compare import main

    good = _evaluated_folder(tmp_path / "good", '{"model": "x"}', _good)
    with pytest.raises(SystemExit) as exit_:
        main([str(good), str(good), "--json", target.format(tmp=tmp_path)])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert not out  # nothing compared, nothing printed
    assert len(err.strip().splitlines()) == 1 and message.format(tmp=tmp_path) in err, err
