"""Runs as tables: every `metrics.json` under some folders, one Markdown row per run."""

from __future__ import annotations

import json
from pathlib import Path

COLUMNS = (
    ("model", "model", "{}"),
    ("model_config", "config", "{}"),
    ("preprocessing", "data type", "{}"),
    ("epochs", "epochs", "{}"),
    ("seed", "seed", "{}"),
    ("precision", "precision", "{}"),
    ("test/acc", "test acc", "{:.2%}"),
    ("test/loss", "test loss", "{:.3f}"),
    ("val/acc_best", "best val acc", "{:.2%}"),
    ("seconds_per_epoch", "s/epoch", "{:.1f}"),
    ("parameters", "params", "{:,}"),
    ("macs", "MACs/image", "{:,}"),
)


def find_metrics(folders: list[Path]) -> list[dict]:
    runs = []
    for folder in folders:
        for path in sorted(Path(folder).rglob("metrics.json")):
            runs.append(json.loads(path.read_text()))
    return runs


def markdown_table(runs: list[dict]) -> str:
    runs = sorted(runs, key=lambda r: r.get("test/acc") or 0, reverse=True)
    lines = [
        "| " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for run in runs:
        if run.get("stn"):
            run = {**run, "model": f"stn + {run['model']}"}
        cells = [
            fmt.format(run[key]) if run.get(key) is not None else "-" for key, _, fmt in COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
