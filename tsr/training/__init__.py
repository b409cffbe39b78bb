"""A training run: building it from the config (`run`), its precision, checkpoints and
resuming, provenance, and the callbacks it always has (epoch timer, divergence guard)."""
