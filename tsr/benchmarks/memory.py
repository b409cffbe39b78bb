"""Peak memory of a real training run with DataLoader workers.

Resident set sizes count pages shared between the main process and its forked workers
once per process, so summing them overstates; the proportional set size (PSS, Linux)
splits each shared page between the processes that map it. Sampled every 0.1 s over the
whole process tree of `python -m tsr.train`."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue += _children(current)
    return pids


def _kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def training_memory(overrides: list[str], cwd: Path, timeout: float = 900) -> dict[str, float]:
    """Peak PSS of the whole tree, peak RSS of the main process, peak worker count (MiB)."""
    if not Path("/proc/self/smaps_rollup").exists():
        return {}
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, after the process)
    process = subprocess.Popen(
        [sys.executable, "-m", "tsr.train", *overrides],
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    peak_pss = peak_rss = 0
    peak_workers = 0
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        pids = _tree(process.pid)
        peak_pss = max(peak_pss, sum(_kib(p, "Pss") for p in pids))
        peak_rss = max(peak_rss, _kib(process.pid, "Rss"))
        peak_workers = max(peak_workers, len(pids) - 1)
        time.sleep(0.1)
    if process.poll() is None:
        process.kill()
        raise RuntimeError("the memory run did not finish in time")
    if process.returncode != 0:
        log.seek(0)
        tail = log.read().decode(errors="replace")[-2000:]
        log.close()
        raise RuntimeError(f"the memory run failed (exit {process.returncode}): {tail}")
    log.close()
    return {
        "peak_pss_mib": peak_pss / 1024,
        "peak_main_rss_mib": peak_rss / 1024,
        "processes": peak_workers + 1,
    }
