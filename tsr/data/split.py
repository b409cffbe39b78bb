"""Validation split by track: whole tracks of each class are held out.

A GTSRB track is ~30 consecutive frames of one physical sign; a random split
puts near-identical frames on both sides and overstates validation accuracy.
"""

from __future__ import annotations

import numpy as np

from tsr.errors import ConfigError


def split_by_track(
    labels: np.ndarray, tracks: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (train, val) indices; per class, round(fraction x tracks) tracks
    (at least one, and at least one left for training) go to validation."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"data.val_fraction={val_fraction} must lie strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    val_tracks = []
    for class_id in np.unique(labels):
        class_tracks = np.unique(tracks[labels == class_id])
        if len(class_tracks) < 2:
            raise ConfigError(
                f"class {class_id} has {len(class_tracks)} track(s): a track-wise split needs 2+"
            )
        n_val = min(max(1, round(val_fraction * len(class_tracks))), len(class_tracks) - 1)
        val_tracks.append(rng.choice(class_tracks, size=n_val, replace=False))
    is_val = np.isin(tracks, np.concatenate(val_tracks))
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)
