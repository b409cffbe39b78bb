"""Pieces of `python -m tsr.bench`: one file per kind of measurement."""
