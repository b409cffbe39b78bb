"""tsr: traffic sign recognition on GTSRB with PyTorch Lightning, Hydra and Optuna."""

__version__ = "0.1.0"
