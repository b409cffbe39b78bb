"""Fault suite, data inputs: malformed annotations and checksum files, hostile archive
members, caches of another source, stale temporary files, and downloads that go wrong.
Each case ends in one DataError naming the file and the fix, and leaves nothing behind.
All on the synthetic archives (tests/synthetic.py), which share the official layout."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tsr.data.archives import (
    ARCHIVES,
    TEST_ARCHIVE,
    TEST_LABELS_ARCHIVE,
    TRAIN_ARCHIVE,
    fetch_archives,
)
from tsr.data.gtsrb import TEST_LABELS_CSV, TRAIN_DIR, cache_path, load_gtsrb
from tsr.errors import DataError

from ..synthetic import write_synthetic_gtsrb

CLASS0_CSV = f"{TRAIN_DIR}/00000/GT-00000.csv"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_gtsrb(tmp_path_factory.mktemp("template"), tracks_per_class=2)


@pytest.fixture
def mirror(template: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name in (*ARCHIVES, "SHA256SUMS"):
        (folder / name).write_bytes((template / name).read_bytes())
    return folder


def rewrite(path: Path, replace: dict[str, bytes], add: tuple[tuple[str, bytes], ...] = ()) -> None:
    """Rewrite a zip archive with some members replaced and others appended."""
    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in members:
            dst.writestr(info, replace.get(info.filename, data))
        for name, data in add:
            dst.writestr(name, data)
    sums = (path.parent / "SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    fixed = [f"{digest}  {path.name}" if line.endswith(path.name) else line for line in sums]
    (path.parent / "SHA256SUMS").write_text("\n".join(fixed) + "\n")


def load(mirror: Path, cache: Path, data_type: str = "gray"):
    return load_gtsrb(cache, functools.partial(fetch_archives, cache, mirror), data_type)


def class0_csv(mirror: Path) -> str:
    with zipfile.ZipFile(mirror / TRAIN_ARCHIVE) as archive:
        return archive.read(CLASS0_CSV).decode()


def with_row(text: str, column: str, value: str, line: int = 1) -> str:
    lines = text.splitlines()
    header = lines[0].split(";")
    fields = lines[line].split(";")
    fields[header.index(column)] = value
    lines[line] = ";".join(fields)
    return "\n".join(lines) + "\n"


CSV_CASES = {
    "missing column": (lambda t: t.replace(";ClassId", "", 1), "lacks the column(s) ClassId"),
    "comma separated": (lambda t: t.replace(";", ","), "lacks the column(s) Filename"),
    "class not a number": (
        lambda t: with_row(t, "ClassId", "zero"),
        "ClassId='zero' is not a number",
    ),
    "roi not a number": (lambda t: with_row(t, "Roi.X1", "1.5"), "Roi.X1='1.5' is not a number"),
    "negative roi": (lambda t: with_row(t, "Roi.X1", "-3"), "ROI (-3,"),
    "roi outside image": (lambda t: with_row(t, "Roi.X2", "900"), "is not a box inside"),
    "width too large": (lambda t: with_row(t, "Width", "70000"), "image size 70000x"),
    "class out of range": (lambda t: with_row(t, "ClassId", "99"), "ClassId 99 outside 0..42"),
    "only the header": (lambda t: t.splitlines()[0] + "\n", "lists no images (only its header)"),
    "duplicate row": (lambda t: t + t.splitlines()[1] + "\n", "is listed twice"),
    "not utf-8": (lambda t: t.replace("Filename", "Filen\udcffame"), "is not UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_malformed_annotations_name_the_file_and_line(mirror: Path, tmp_path: Path, case) -> None:
    change, message = CSV_CASES[case]
    text = change(class0_csv(mirror))
    rewrite(mirror / TRAIN_ARCHIVE, {CLASS0_CSV: text.encode("utf-8", "surrogateescape")})
    with pytest.raises(DataError) as error:
        load(mirror, tmp_path / "cache")
    assert message in str(error.value)
    assert "GT-00000.csv" in str(error.value)
    assert not list((tmp_path / "cache").glob("*.npz"))  # nothing cached from it


def test_test_labels_are_checked_too(mirror: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(mirror / TEST_LABELS_ARCHIVE) as archive:
        text = archive.read(TEST_LABELS_CSV).decode()
    rewrite(mirror / TEST_LABELS_ARCHIVE, {TEST_LABELS_CSV: with_row(text, "Height", "x").encode()})
    with pytest.raises(DataError, match=r"GT-final_test.csv line 2: Height='x' is not a number"):
        load(mirror, tmp_path / "cache")


def test_a_duplicate_member_is_refused(mirror: Path, tmp_path: Path) -> None:
    name = f"{TRAIN_DIR}/00000/00000_00000.ppm"
    with pytest.warns(UserWarning, match="Duplicate name"):
        rewrite(mirror / TRAIN_ARCHIVE, {}, add=((name, b"P6 not the same image"),))
    with pytest.raises(DataError, match="listed twice"):
        load(mirror, tmp_path / "cache")


def test_a_member_that_inflates_hugely_is_not_read(mirror: Path, tmp_path: Path) -> None:
    import resource

    name = f"{TRAIN_DIR}/00000/00000_00000.ppm"
    rewrite(mirror / TRAIN_ARCHIVE, {name: bytes(200 << 20)})  # 200 MiB of zeros, ~200 kB packed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DataError, match="inflates to 200 MiB"):
        load(mirror, tmp_path / "cache")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 100


@pytest.mark.parametrize(
    ("sums", "message"),
    [
        (b"\xff\xfe not text", "is not UTF-8 text"),
        (b"deadbeef  GTSRB_Final_Test_GT.zip\n", "line 1 is not '<sha256>  <file name>'"),
    ],
)
def test_unreadable_checksum_files_are_errors(mirror: Path, tmp_path: Path, sums, message) -> None:
    (mirror / "SHA256SUMS").write_bytes(sums)
    with pytest.raises(DataError, match=message):
        load(mirror, tmp_path / "cache")


def test_checksums_written_as_dot_slash_still_catch_tampering(mirror: Path, tmp_path: Path) -> None:
    text = (mirror / "SHA256SUMS").read_text().replace("  GTSRB", "  ./GTSRB")
    (mirror / "SHA256SUMS").write_text(text)
    load(mirror, tmp_path / "ok")  # the same archives pass
    with open(mirror / TEST_ARCHIVE, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(DataError, match=f"SHA-256 mismatch for .*{TEST_ARCHIVE}"):
        load(mirror, tmp_path / "cache")


def test_a_checksum_file_that_omits_an_archive_is_an_error(mirror: Path, tmp_path: Path) -> None:
    lines = (mirror / "SHA256SUMS").read_text().splitlines()
    (mirror / "SHA256SUMS").write_text("\n".join(x for x in lines if TEST_ARCHIVE not in x))
    with pytest.raises(DataError, match=f"lists no checksum for {TEST_ARCHIVE}"):
        load(mirror, tmp_path / "cache")


def test_the_cache_is_rebuilt_for_other_archives(mirror: Path, tmp_path: Path, caplog) -> None:
    cache = tmp_path / "cache"
    first = load(mirror, cache)
    other = write_synthetic_gtsrb(tmp_path / "other", tracks_per_class=1, test_per_class=2, seed=7)
    second = load(other, cache)
    assert len(second.test) == 86 != len(first.test)  # not the earlier mirror's images
    assert "decoded from other archives" in caplog.text
    again = load(mirror, cache)  # and back: rebuilt from the first archives
    np.testing.assert_array_equal(again.test.labels, first.test.labels)


def test_a_cache_of_a_tampered_archive_is_not_reused_after_the_fix(
    mirror: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    good = (mirror / TEST_LABELS_ARCHIVE).read_bytes()
    with zipfile.ZipFile(mirror / TEST_LABELS_ARCHIVE) as archive:
        text = archive.read(TEST_LABELS_CSV).decode()
    rewrite(
        mirror / TEST_LABELS_ARCHIVE, {TEST_LABELS_CSV: with_row(text, "ClassId", "5").encode()}
    )
    tampered = load(mirror, cache)
    (mirror / TEST_LABELS_ARCHIVE).write_bytes(good)
    rewrite(mirror / TEST_LABELS_ARCHIVE, {})  # restores SHA256SUMS for the good bytes
    fixed = load(mirror, cache)
    assert tampered.test.labels[0] == 5 and fixed.test.labels[0] != 5


def test_stale_cache_temps_are_removed_and_fresh_ones_kept(mirror: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load(mirror, cache)
    stale = cache / f".{cache_path(cache, 32).name}.tsr-abc12345.tmp"
    fresh = cache / f".{cache_path(cache, 32).name}.tsr-def67890.tmp"
    foreign = cache / ".notes.tmp"
    for path in (stale, fresh, foreign):
        path.write_bytes(bytes(1000))
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(foreign, (old, old))
    load(mirror, cache)
    assert not stale.exists() and fresh.exists() and foreign.exists()


# --- downloads -------------------------------------------------------------------------


class _Server(http.server.ThreadingHTTPServer):
    mode = "ok"
    folder: Path


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        body = (server.folder / self.path.rsplit("/", 1)[-1]).read_bytes()
        if server.mode == "html":
            page = b"<html><body>Service unavailable, try later</body></html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        elif server.mode == "short":  # announces more bytes than it sends, then closes
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
        elif server.mode == "chunked-cut":  # a chunked response cut mid-way
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = body[: len(body) // 2]
            self.wfile.write(f"{len(body):x}\r\n".encode() + half)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def server(template: Path) -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.folder = template
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("html", "the server sent an HTML page"),
        ("short", "could not download"),
        ("chunked-cut", "could not download"),
    ],
)
def test_a_bad_download_leaves_nothing(server: _Server, tmp_path: Path, mode, message) -> None:
    server.mode = mode
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    with pytest.raises(DataError, match=message):
        fetch_archives(tmp_path, None, url)
    assert list(tmp_path.iterdir()) == []  # no truncated archive, no .part

    server.mode = "ok"  # the next run downloads afresh and works
    paths = fetch_archives(tmp_path, None, url)
    assert sorted(p.name for p in paths.values()) == sorted(ARCHIVES)


def test_resources_that_cannot_fit_are_refused_or_capped(tmp_path: Path, caplog) -> None:
    from tsr.data import GtsrbDataModule

    with pytest.raises(
        Exception, match=r"min_per_class=10000000 must be a whole number >= 0 and <= 100000"
    ):
        GtsrbDataModule(data_dir=tmp_path, min_per_class=10_000_000)
    module = GtsrbDataModule(data_dir=tmp_path, num_workers=64)
    assert module.num_workers == (os.cpu_count() or 1)
    assert "data.num_workers=64 is more than the" in caplog.text
    assert not any(tmp_path.iterdir())  # nothing read or written


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_cache_folder_fails_before_decoding(mirror: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(DataError, match="is not writable"):
            load(mirror, folder / "cache")
    finally:
        folder.chmod(0o700)


def test_a_cache_folder_under_a_file_fails_before_decoding(mirror: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(DataError, match=r"data.data_dir=.*file/cache is not writable"):
        load(mirror, tmp_path / "file" / "cache")


def test_class_names_with_markup_print_as_text(capsys) -> None:
    from tsr.inference.prediction import Prediction, PredictResult, _print_table

    top = [{"class_id": 0, "name": "[/bold] evil [red]", "probability": 0.9}] * 2
    result = PredictResult([Prediction("a.png", top=top)], Path("."), 0.1)
    _print_table(result, 10)
    assert "[/bold] evil" in capsys.readouterr().out
