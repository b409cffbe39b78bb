"""Optuna sweeps: search space, study and budget, pruning, summary (entry point: tsr.sweep)."""
