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


def stratified_sample(labels: np.ndarray, count: int | None, seed: int = 0) -> np.ndarray:
    """A seeded, class-stratified sample of exactly `count` test images (sorted): each class
    in proportion to its share (largest remainders), at least one image each; None: all."""
    if count is None or count >= len(labels):
        return np.arange(len(labels))
    classes, sizes = np.unique(labels, return_counts=True)
    if count < len(classes):
        raise ValueError(f"a stratified sample needs at least {len(classes)} images")
    exact = count * sizes / len(labels)
    quota = np.maximum(1, np.floor(exact).astype(int))
    for i in np.argsort(-(exact - np.floor(exact)), kind="stable"):  # largest remainders
        if quota.sum() >= count:
            break
        quota[i] += 1
    while quota.sum() > count:  # the minimum of one per class overshot: trim the largest
        quota[np.argmax(quota)] -= 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.permutation(np.flatnonzero(labels == c))[:q]
        for c, q in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(chosen))
