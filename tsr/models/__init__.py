"""Backbones (one file each, registered by name) and the LightningModule wrapping them."""

from tsr.models import (  # noqa: F401  (register the backbones)
    inception,
    lenet,
    lenet_classic,
    multiscale,
    resnet,
)
from tsr.models.module import EPOCH_METRICS, TEST_METRICS, SignClassifier
from tsr.models.registry import create_model, list_models, register_model

__all__ = [
    "EPOCH_METRICS",
    "TEST_METRICS",
    "SignClassifier",
    "create_model",
    "list_models",
    "register_model",
]
