"""Tabulate the `metrics.json` of runs: `python -m tsr.report <folder> [...]`.

Prints a Markdown table (one row per run, sorted by test accuracy) for
`experiments/` and for comparing runs of a multirun.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsr.reporting.runs import find_metrics, markdown_table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run or multirun folders")
    args = parser.parse_args(argv)
    runs = find_metrics(args.folders)
    if not runs:
        parser.error(f"no metrics.json under {', '.join(map(str, args.folders))}")
    print(markdown_table(runs))


if __name__ == "__main__":
    main()
