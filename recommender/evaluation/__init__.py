"""Offline evaluation, in Cornac's separation: splits (eval methods), metrics, statistics, the
experiment runner, dataset preparation and plots (import :mod:`.plots` explicitly: it loads
matplotlib)."""

from recommender.evaluation.experiment import ModelResult, evaluate_model, run_experiment
from recommender.evaluation.splits import (
    Split,
    cold_start_split,
    published_split,
    random_holdout,
    validation_from_train,
)
from recommender.evaluation.stats import bootstrap_ci, paired_test

__all__ = [
    "ModelResult",
    "Split",
    "bootstrap_ci",
    "cold_start_split",
    "evaluate_model",
    "paired_test",
    "published_split",
    "random_holdout",
    "run_experiment",
    "validation_from_train",
]
