"""Compare evaluated models image by image: `python -m tsr.compare <evaluate folder> ...`.

For every pair of `tsr.evaluate` output folders: the test images only one model gets
right, McNemar's exact test and a bootstrap 95 % interval of the accuracy difference
(tsr.reporting.comparison). Prints a Markdown table; `--json FILE` also writes the rows.
Exit status 0, or 2 with one error line.

These ask whether two trained models differ beyond the sampling noise of the images, not
whether the recipes that trained them do: two seeds of one recipe can differ "significantly"
(experiments/accuracy/README.md, section 20). Recipes are compared over seeds by
`python -m tsr.report`; the table ends with a line that says so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tsr.cli import EXIT_USAGE, OneLineParser
from tsr.errors import TsrError
from tsr.io.atomic import write_json
from tsr.io.folders import nearest_existing
from tsr.reporting.comparison import compare, markdown

SEEDS_NOTE = (
    "McNemar p and the interval say whether these models differ on these images, not "
    "whether their recipes do (two seeds of one recipe can): compare recipes over seeds "
    "with python -m tsr.report <run folders>"
)


def json_file_problem(path: Path) -> str | None:
    """Why `--json PATH` cannot be written, with the fix; None when it can."""
    fix = "name a file in a folder you can write to, e.g. --json comparison.json"
    if str(path) in ("", ".") or path.is_dir():
        return f"--json {str(path)!r} is a folder: {fix}"
    folder = nearest_existing(path.parent)
    if not folder.is_dir():
        return f"--json {path} cannot be written: {folder} is a file; {fix}"
    if not os.access(folder, os.W_OK):
        return f"--json {path} cannot be written: {folder} is read-only here; {fix}"
    return None


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="tsr.compare", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="tsr.evaluate output folders")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    if args.json is not None:  # checked before comparing: the table printed, then a traceback
        problem = json_file_problem(args.json)
        if problem:
            parser.fail(problem)
    try:
        rows = compare(args.folders)
    except TsrError as exc:
        print(f"tsr.compare: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    print(markdown(rows))
    print(f"\n{SEEDS_NOTE}")
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
