"""tsr.report: one row per run, and the seeds of one configuration grouped into one row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from tsr.config.resolvers import register_resolvers
from tsr.report import main
from tsr.reporting.runs import describe, find_runs, group_by_configuration

from .conftest import compose_train


def _fake_run(folder: Path, cfg, test_acc: float, val_acc: float | None = None) -> None:
    """A run folder as tsr.train leaves it: its resolved config.yaml and metrics.json."""
    register_resolvers()
    folder.mkdir(parents=True)
    config = OmegaConf.to_container(cfg, resolve=True)
    config["paths"]["output_dir"] = str(folder)
    config["trainer"]["default_root_dir"] = str(folder)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    metrics = {
        "model_config": cfg.model.name,
        "seed": cfg.seed,
        "test/acc": test_acc,
        "val/acc_best": test_acc + 0.01 if val_acc is None else val_acc,
        "preprocessing": cfg.data.preprocessing,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_a_3_seed_multirun_is_one_row(tmp_path: Path, capsys) -> None:
    multirun = tmp_path / "multiruns" / "2026-12-02_00-00-00"
    for job, (seed, acc) in enumerate([(1, 0.95), (2, 0.96), (3, 0.97)]):
        cfg = compose_train(
            tmp_path, tmp_path / "data", tmp_path / "m", "model=lenet", f"seed={seed}"
        )
        _fake_run(multirun / str(job), cfg, acc)
    cfg = compose_train(tmp_path, tmp_path / "data", tmp_path / "m", "model=resnet", "seed=1")
    _fake_run(multirun / "3", cfg, 0.98)

    groups = group_by_configuration(find_runs([multirun]))
    assert sorted(len(g.runs) for g in groups) == [1, 3]

    main([str(multirun)])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| name=lenet"))
    # mean 96.00 %, sample std 1.00 %, t(0.975, 2) = 4.3027: 96.00 -+ 2.48 points
    assert "| 3 | 1, 2, 3 | 96.00% ± 1.00% | 93.52% - 98.48% |" in row


def test_seeds_run_from_other_folders_are_one_configuration(tmp_path: Path) -> None:
    """Where the data, the mirror and the logs were is not the configuration (seeds of one
    study continued from another checkout), but every setting of the run is."""
    folder = tmp_path / "multiruns"
    for job, (place, extra) in enumerate([("a", []), ("b", []), ("c", ["data.batch_size=64"])]):
        cfg = compose_train(
            tmp_path,
            tmp_path / place / "data",
            tmp_path / place / "mirror",
            f"paths.log_dir={tmp_path / place / 'logs'}",
            f"seed={job}",
            *extra,
        )
        _fake_run(folder / str(job), cfg, 0.95)
    groups = group_by_configuration(find_runs([folder]))
    assert sorted(len(g.runs) for g in groups) == [1, 2]


def test_seed_pairs_use_welchs_test(tmp_path: Path, capsys) -> None:
    """t = 0.05 / sqrt(1e-4 / 3 + 1e-4 / 3) = 6.1237 with 4 degrees of freedom: two-sided
    p = 2 * P(T_4 > 6.1237) = 0.0036 (t table); the single-seed configuration is left out."""
    multirun = tmp_path / "multiruns" / "2026-12-02_00-00-00"
    accuracies = {"lenet": [0.95, 0.96, 0.97], "resnet": [0.90, 0.91, 0.92], "inception": [0.9]}
    # validation ranks them the other way round (as it may: its own table, chosen on it)
    validation = {"lenet": [0.95, 0.94, 0.93], "resnet": [1.0, 0.99, 0.98], "inception": [0.9]}
    job = 0
    for model, values in accuracies.items():
        for seed, acc in enumerate(values, start=1):
            cfg = compose_train(
                tmp_path, tmp_path / "data", tmp_path / "m", f"model={model}", f"seed={seed}"
            )
            _fake_run(multirun / str(job), cfg, acc, validation[model][seed - 1])
            job += 1
    main([str(multirun)])
    out = capsys.readouterr().out
    val_pairs = out[out.index("mean best validation accuracy") : out.index("mean test accuracy")]
    row = next(line for line in val_pairs.splitlines() if line.startswith("| name=resnet"))
    assert "| +5.00 points | 6.12 | 0.0036 | yes |" in row and "name=lenet" in row
    test_pairs = out[out.index("mean test accuracy") :]
    row = next(line for line in test_pairs.splitlines() if line.startswith("| name=lenet"))
    assert "| +5.00 points | 6.12 | 0.0036 | yes |" in row and "name=resnet" in row
    assert "inception" not in val_pairs + test_pairs


def test_describe_matches_hand_computed_values() -> None:
    d = describe([0.95, 0.96, 0.97])
    assert d["n"] == 3 and d["mean"] == pytest.approx(0.96) and d["std"] == pytest.approx(0.01)
    half = 4.302652729911275 * 0.01 / 3**0.5
    assert d["ci_low"] == pytest.approx(0.96 - half) and d["ci_high"] == pytest.approx(0.96 + half)
    single = describe([0.9])
    assert single["std"] is None and single["ci_low"] is None


def test_ignored_settings_pool_runs_and_a_callback_tells_groups_apart(
    tmp_path: Path, capsys
) -> None:
    """Runs differing only in a callback are two configurations, labelled by that callback
    (not two identical labels); --ignore pools them. Equal accuracies give an interval of
    that value, not nan."""
    folder = tmp_path / "runs"
    for job, extra in enumerate([[], [], ["callbacks.time_budget.minutes=13"]]):
        cfg = compose_train(tmp_path, tmp_path / "data", tmp_path / "m", f"seed={job}", *extra)
        _fake_run(folder / str(job), cfg, 0.99)
    main([str(folder)])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| name=")]
    labels = [row.split(" | ")[0] for row in rows]
    assert len(labels) == 2 and labels[0] != labels[1]
    assert sorted(label.split(", ")[-1] for label in labels) == ["minutes=13", "minutes=None"]
    main(["--ignore", "callbacks.time_budget", str(folder)])
    out = capsys.readouterr().out
    assert "| 3 | 0, 1, 2 | 99.00% ± 0.00% | 99.00% - 99.00% |" in out
    assert "nan" not in out


def test_an_accuracy_interval_stops_at_100_percent(tmp_path: Path, capsys) -> None:
    """Two seeds at 99.50 % and 99.90 %: the t-interval of their mean (12.7 x 0.2 = 2.54 points
    either side) would run past 100 %; the row stops it at 100.00 %."""
    folder = tmp_path / "runs"
    for seed, acc in [(1, 0.995), (2, 0.999)]:
        cfg = compose_train(tmp_path, tmp_path / "data", tmp_path / "m", f"seed={seed}")
        _fake_run(folder / str(seed), cfg, acc)
    main([str(folder)])
    row = next(line for line in capsys.readouterr().out.splitlines() if "| 1, 2 |" in line)
    assert "| 99.70% ± 0.28% | 97.16% - 100.00% |" in row
    assert describe([0.995, 0.999])["ci_high"] > 1  # without bounds: the t-interval itself
