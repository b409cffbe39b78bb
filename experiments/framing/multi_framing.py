"""Does averaging a framing-jittered model over several framings of each image help?

Test-time augmentation over the framing: one checkpoint evaluated at several ROI margins
(`tsr.evaluate roi_crop=M output_dir=DIR`, each DIR holding the predictions.npz that
tsr.evaluate writes), its probabilities averaged over the margins. Prints the errors at each
margin alone and of each average of two or more margins. Every DIR must come from the same
checkpoint and split (the labels are checked to agree).

    python experiments/framing/multi_framing.py 0=DIR_0 0.05=DIR_005 0.1=DIR_01 0.15=DIR_015
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np


def main(arguments: list[str]) -> None:
    if len(arguments) < 2 or any("=" not in a for a in arguments):
        raise SystemExit(__doc__)
    probabilities: dict[str, np.ndarray] = {}
    labels = None
    for argument in arguments:
        margin, folder = argument.split("=", 1)
        with np.load(Path(folder) / "predictions.npz") as saved:
            probabilities[margin] = saved["probabilities"].astype(np.float64)
            if labels is not None and not np.array_equal(labels, saved["labels"]):
                raise SystemExit(f"{folder}: other images than the first folder's")
            labels = saved["labels"]
    for size in range(1, len(probabilities) + 1):
        for margins in itertools.combinations(probabilities, size):
            mean = np.mean([probabilities[m] for m in margins], axis=0)
            errors = int(np.sum(mean.argmax(axis=1) != labels))
            print(f"{' + '.join(margins):>24}: {errors} errors of {len(labels)}")


if __name__ == "__main__":
    main(sys.argv[1:])
