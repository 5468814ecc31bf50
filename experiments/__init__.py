"""Offline comparison scripts: `python -m experiments.compare`, `python -m experiments.tune`."""
