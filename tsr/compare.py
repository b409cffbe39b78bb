"""Compare evaluated models image by image: `python -m tsr.compare <evaluate folder> ...`.

For every pair of `tsr.evaluate` output folders: the test images only one model gets
right, McNemar's exact test and a bootstrap 95 % interval of the accuracy difference
(tsr.reporting.comparison). Prints a Markdown table; `--json FILE` also writes the rows.
Exit status 0, or 2 with one error line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tsr.cli import EXIT_USAGE
from tsr.errors import TsrError
from tsr.io.atomic import write_json
from tsr.reporting.comparison import compare, markdown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="tsr.evaluate output folders")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    try:
        rows = compare(args.folders)
    except TsrError as exc:
        print(f"tsr.compare: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    print(markdown(rows))
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
