"""Metrics of a classifier's outputs, shared by training, TensorBoard and evaluation."""
