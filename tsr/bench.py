"""`python -m tsr.bench`: how fast tsr trains and predicts, against a hand-written PyTorch
loop and the machine's measured convolution peak, in one run.

Measures the data path (cold preparation, warm load, the training loader alone),
training throughput per model in tsr's Lightning loop and in a plain loop on the same
model, data and batch size (their ratio), epoch time with jitter on vs off, inference
latency and throughput, MACs and achieved FLOP/s as a fraction of the convolution
peak, and peak memory of a training run with workers. Training and inference in fp32 and
in bf16 mixed precision, each against the peak of its own precision.
Prints a table and writes JSON and Markdown to `bench.output_dir`; checks the targets
of experiments/benchmarks/README.md.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra import initialize_config_dir
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from tsr.benchmarks.report import markdown_report
from tsr.benchmarks.settings import register_bench_schema
from tsr.benchmarks.suite import run, save
from tsr.cli import EXIT_USAGE
from tsr.config.composition import CONF_DIR
from tsr.config.resolvers import register_resolvers
from tsr.errors import TsrError

log = logging.getLogger("tsr.bench")


def main(argv: Sequence[str] | None = None) -> None:
    register_resolvers()
    register_bench_schema()  # conf/bench.yaml's defaults
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s][%(name)s] %(message)s")
    log.setLevel(logging.INFO)  # the benchmark's progress; the runs it measures stay quiet
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            results = run(argv)
    except TsrError as exc:
        log.error("%s", exc)
        sys.exit(EXIT_USAGE)
    except (HydraException, OmegaConfBaseException) as exc:
        log.error("invalid configuration: %s", exc)
        sys.exit(EXIT_USAGE)
    print(markdown_report(results))
    path = save(results, Path(results["settings"]["output_dir"]))
    log.info("results written to %s (and .md)", path)
    missed = [t for t in results["targets"] if t["met"] is False]
    if missed:
        log.warning("targets missed: %s", "; ".join(t["name"] for t in missed))


if __name__ == "__main__":
    main()
