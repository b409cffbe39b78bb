"""Tabulate runs: `python -m tsr.report <folder> [...]`.

Prints a Markdown table with one row per run (sorted by test accuracy), then, when a
configuration was run with several seeds (`python -m tsr.train -m seed=1,2,3 ...`), one
row per configuration: n, mean ± standard deviation and the 95 % confidence interval (t)
of the test and best validation accuracy; and per pair of such configurations, the
difference of their mean best validation accuracy (the one to choose on) and of their mean
test accuracy, each with Welch's t-test over the seeds. Configurations
are equal when their resolved config.yaml is, apart from the seeds and paths.
"""

from __future__ import annotations

from pathlib import Path

from tsr.cli import OneLineParser
from tsr.reporting.runs import (
    find_runs,
    group_by_configuration,
    markdown_table,
    seed_pairs_table,
    seeds_table,
)


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="tsr.report", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run or multirun folders")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="KEY",
        help="a dotted config key (or prefix) left out when grouping runs into configurations, "
        "e.g. callbacks.time_budget for runs made before and after a callback joined the "
        "defaults when its log shows it changed nothing; repeatable",
    )
    args = parser.parse_args(argv)
    missing = [str(folder) for folder in args.folders if not folder.is_dir()]
    if missing:
        parser.fail(f"no such folder: {', '.join(missing)}; give run or multirun folders")
    runs = find_runs(args.folders)
    if not runs:
        left_out = sum(1 for folder in args.folders for _ in folder.rglob("metrics.json"))
        parser.fail(
            f"no readable metrics.json under {', '.join(map(str, args.folders))}"
            + (f" ({left_out} left out, each named above)" if left_out else "")
        )
    print(markdown_table([run.metrics for run in runs]))
    groups = group_by_configuration(runs, tuple(args.ignore))
    if any(len(group.runs) > 1 for group in groups):
        print()
        print("Over seeds (mean ± sample std; 95 % CI of the mean, t distribution):")
        print()
        print(seeds_table(groups))
    if sum(len(group.runs) > 1 for group in groups) > 1:
        for key, what in (("val/acc_best", "best validation"), ("test/acc", "test")):
            print()
            print(
                f"Pairs of configurations over seeds (Welch's t-test of the mean {what} accuracy):"
            )
            print()
            print(seed_pairs_table(groups, key))


if __name__ == "__main__":
    main()
