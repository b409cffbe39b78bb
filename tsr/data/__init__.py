"""GTSRB data: archives, decoded cache, preprocessing, jitter, rebalancing, datamodule."""

from tsr.data.classes import CLASS_NAMES, NUM_CLASSES
from tsr.data.datamodule import GtsrbDataModule
from tsr.data.preprocessing import DATA_TYPES

__all__ = ["CLASS_NAMES", "DATA_TYPES", "NUM_CLASSES", "GtsrbDataModule"]
