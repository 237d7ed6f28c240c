"""Fitting a model: configuration, checkpoints, the loop, forward passes, devices and processes, run folders."""
