"""What tsr shows in TensorBoard beyond Lightning's scalars: one callback per view.

Each callback is a no-op when the run has no TensorBoard logger, and each is
one entry of `conf/callbacks/default.yaml`, so any of them can be switched off
(`~callbacks.projector`) or all of them (`callbacks=minimal`, as sweeps do).
"""

from tsr.tensorboard.confusion import ConfusionMatrix
from tsr.tensorboard.graph import ModelGraph
from tsr.tensorboard.histograms import WeightHistograms
from tsr.tensorboard.hparams import log_hparams
from tsr.tensorboard.misclassified import WorstMisclassified
from tsr.tensorboard.projector import EmbeddingProjector
from tsr.tensorboard.samples import SampleGrids

__all__ = [
    "ConfusionMatrix",
    "EmbeddingProjector",
    "ModelGraph",
    "SampleGrids",
    "WeightHistograms",
    "WorstMisclassified",
    "log_hparams",
]
