"""Shared fixtures: the GTSRB archives (real, or synthetic in the same layout when the real
ones are absent or TSR_TEST_DATA=synthetic), a small subset of them, a built cache."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from tsr.benchmarks.settings import register_bench_schema
from tsr.data.archives import (
    ARCHIVES,
    TEST_ARCHIVE,
    TEST_LABELS_ARCHIVE,
    TRAIN_ARCHIVE,
    fetch_archives,
    sha256_of,
)
from tsr.data.gtsrb import TEST_DIR, TEST_LABELS_CSV, TRAIN_DIR, Gtsrb, load_gtsrb
from tsr.inference.settings import register_command_schemas
from tsr.training.config_store import register_schemas

# the schema's defaults, for the configs' defaults lists (as the commands register them)
register_schemas()
register_command_schemas()
register_bench_schema()

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"


def run_tsr(
    command: str,
    *args: str,
    root: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: int = 600,
) -> subprocess.CompletedProcess[str]:
    """`python -m tsr.<command> args` as a user runs it: from the repository root,
    TSR_ROOT=root when given (where logs and data go), extra environment variables `env`,
    output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", f"tsr.{command}", *args],
        cwd=REPO,
        env={**os.environ, **({"TSR_ROOT": str(root)} if root is not None else {}), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def compose_train(tmp_path: Path, cache_dir: Path, mirror: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"paths.data_dir={cache_dir}",
                f"paths.output_dir={tmp_path / 'run'}",
                f"paths.log_dir={tmp_path / 'logs'}",
                f"data.mirror={mirror}",
                "trainer.enable_progress_bar=false",
                "trainer.enable_model_summary=false",
                *overrides,
            ],
        )


def real_archives() -> Path | None:
    """The folder with the three official archives (GTSRB_MIRROR, else ../shared/data/gtsrb),
    or None when they are absent or TSR_TEST_DATA=synthetic asks for the synthetic set."""
    if os.environ.get("TSR_TEST_DATA") == "synthetic":
        return None
    folder = Path(os.environ.get("GTSRB_MIRROR", REPO.parent / "shared" / "data" / "gtsrb"))
    if any(not (folder / name).is_file() for name in ARCHIVES):
        if os.environ.get("TSR_TEST_DATA") == "real":
            pytest.fail(f"TSR_TEST_DATA=real but the GTSRB archives are not all in {folder}")
        return None
    return folder.resolve()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `real_data` (they check facts of the real GTSRB: its sizes, its
    accuracy) skip when the run has only the synthetic archives."""
    if real_archives() is not None:
        return
    skip = pytest.mark.skip(reason="needs the real GTSRB archives (set GTSRB_MIRROR)")
    for item in items:
        if "real_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official archives when they are here, else the synthetic ones in the same layout
    (tests/synthetic.py): every test that is not `real_data` passes on either."""
    folder = real_archives()
    if folder is not None:
        return folder
    from .synthetic import write_synthetic_gtsrb

    return write_synthetic_gtsrb(tmp_path_factory.mktemp("synthetic-mirror"))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    """A cache built once per test session from the real archives (cold path)."""
    folder = tmp_path_factory.mktemp("cache")
    load_gtsrb(folder, functools.partial(fetch_archives, folder, mirror))
    return folder


@pytest.fixture(scope="session")
def gtsrb(cache_dir: Path, mirror: Path) -> Gtsrb:
    return load_gtsrb(cache_dir, functools.partial(fetch_archives, cache_dir, mirror))


def _copy(src: zipfile.ZipFile, dst: zipfile.ZipFile, name: str, data: bytes | None = None) -> None:
    dst.writestr(src.getinfo(name), src.read(name) if data is None else data)


def build_mini_mirror(mirror: Path, dest: Path, tracks_per_class: int = 1, test_images: int = 86):
    """Real GTSRB files, fewer of them: the first track(s) of every class, the first test
    images, and a SHA256SUMS. Same names and layout as the official archives."""
    dest.mkdir(parents=True, exist_ok=True)
    with (
        zipfile.ZipFile(mirror / TRAIN_ARCHIVE) as src,
        zipfile.ZipFile(dest / TRAIN_ARCHIVE, "w") as dst,
    ):
        for class_id in range(43):
            folder = f"{TRAIN_DIR}/{class_id:05d}"
            csv_name = f"{folder}/GT-{class_id:05d}.csv"
            lines = src.read(csv_name).decode().splitlines()
            tracks = sorted({line.split("_")[0] for line in lines[1:]})[:tracks_per_class]
            kept = [line for line in lines[1:] if line.split("_")[0] in tracks]
            _copy(src, dst, csv_name, ("\n".join([lines[0], *kept]) + "\n").encode())
            for line in kept:
                _copy(src, dst, f"{folder}/{line.split(';')[0]}")
    with (
        zipfile.ZipFile(mirror / TEST_LABELS_ARCHIVE) as src,
        zipfile.ZipFile(dest / TEST_LABELS_ARCHIVE, "w") as dst,
    ):
        lines = src.read(TEST_LABELS_CSV).decode().splitlines()[: test_images + 1]
        _copy(src, dst, TEST_LABELS_CSV, ("\n".join(lines) + "\n").encode())
    with (
        zipfile.ZipFile(mirror / TEST_ARCHIVE) as src,
        zipfile.ZipFile(dest / TEST_ARCHIVE, "w") as dst,
    ):
        for line in lines[1:]:
            _copy(src, dst, f"{TEST_DIR}/{line.split(';')[0]}")
    sums = "".join(f"{sha256_of(dest / name)}  {name}\n" for name in ARCHIVES)
    (dest / "SHA256SUMS").write_text(sums)
    return dest


@pytest.fixture(scope="session")
def mini_mirror_template(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    return build_mini_mirror(mirror, tmp_path_factory.mktemp("mini-mirror"))


@pytest.fixture
def mini_mirror(mini_mirror_template: Path, tmp_path: Path) -> Path:
    """A private copy of the small mirror that a test may damage."""
    dest = tmp_path / "mirror"
    dest.mkdir()
    for path in mini_mirror_template.iterdir():
        (dest / path.name).write_bytes(path.read_bytes())
    return dest


# --- trained checkpoint and raw test images (tsr.evaluate, tsr.predict, tsr.export) ---

TINY_DATA_TYPE = "clahe"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, mirror: Path) -> dict:
    """A LeNet trained a few batches by `tsr.training.run.train` with the default callbacks, as a
    user's run writes it; its metrics (test/acc of the best checkpoint) and checkpoint."""
    return train_tiny(tmp_path_factory.mktemp("tiny-run"), cache_dir, mirror)


@pytest.fixture(scope="session")
def roi_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, mirror: Path) -> dict:
    """tiny_run's training on images cropped to their signs (data.roi_crop=0.05)."""
    return train_tiny(tmp_path_factory.mktemp("roi-run"), cache_dir, mirror, "data.roi_crop=0.05")


def train_tiny(folder: Path, cache_dir: Path, mirror: Path, *overrides: str) -> dict:
    """tiny_run's training (plus `overrides`) in `folder`: its metrics and checkpoint."""
    from hydra import compose, initialize_config_dir

    from tsr.training.run import train

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"paths.data_dir={cache_dir}",
                f"paths.output_dir={folder / 'run'}",
                f"paths.log_dir={folder / 'logs'}",
                f"data.mirror={mirror}",
                f"data.preprocessing={TINY_DATA_TYPE}",
                "data.jitter.enabled=false",
                "trainer.max_epochs=1",
                "debug=fast",
                "trainer.limit_train_batches=40",
                "trainer.limit_val_batches=2",
                "trainer.limit_test_batches=1.0",  # the whole test set: tsr.evaluate's figure
                "trainer.enable_progress_bar=false",
                "trainer.enable_model_summary=false",
                "logger=none",
                *overrides,
            ],
        )
    metrics = train(cfg, show_summary=False)
    return {**metrics, "checkpoint": Path(metrics["best_checkpoint"])}


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_run: dict) -> Path:
    return tiny_run["checkpoint"]


@pytest.fixture(scope="session")
def raw_test_images(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> list[tuple]:
    """The first 64 official test images as the archive holds them (.ppm files in a folder),
    with their index in the test set and their label: (path, index, label)."""
    folder = tmp_path_factory.mktemp("raw-test-images")
    with zipfile.ZipFile(mirror / TEST_LABELS_ARCHIVE) as labels_zip:
        rows = labels_zip.read(TEST_LABELS_CSV).decode().splitlines()[1:65]
    out = []
    with zipfile.ZipFile(mirror / TEST_ARCHIVE) as test_zip:
        for index, row in enumerate(rows):
            name, *_, label = row.split(";")
            path = folder / name
            path.write_bytes(test_zip.read(f"{TEST_DIR}/{name}"))
            out.append((path, index, int(label)))
    return out


# --- the fast tier's data: a synthetic GTSRB in the official layout (tests/synthetic.py) ---


@pytest.fixture(scope="session")
def synthetic_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three archives in the official names and layout (43 classes x 3 tracks x 6 frames,
    172 test images), with a SHA256SUMS; needs no GTSRB files."""
    from .synthetic import write_synthetic_gtsrb

    return write_synthetic_gtsrb(tmp_path_factory.mktemp("synthetic-mirror"))
