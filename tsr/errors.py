"""Errors a user can act on: each message names the problem and the fix.

Entry points catch `TsrError` and print its message without a traceback.
"""


class TsrError(Exception):
    """Base class of the errors tsr reports to users as one clear message."""


class ConfigError(TsrError, ValueError):
    """A configuration value is invalid; raised before any data is touched."""


class DataError(TsrError):
    """An archive, cache or image is missing, corrupt or unsafe."""


class TrainingDiverged(TsrError):
    """The training loss became NaN or infinite (too high a learning rate, bad data)."""


class CheckpointError(TsrError):
    """A checkpoint is missing, damaged, unsafe or not one `python -m tsr.train` wrote."""


class ImageReadError(TsrError):
    """One input image cannot be classified (unreadable, not an image, truncated, too large)."""
