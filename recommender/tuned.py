"""Hyperparameters chosen on validation, stored with the library so that the offline comparison
and the service read one choice.

``tuned.json`` (beside this module) is written by ``python -m experiments.tune`` only, which tunes
on a validation split carved out of the published training files, never the test files. Its
layout: ``{dataset: {"P=<split>": {key: {"params", "feature_weights"?, "validation",
"serving"?}}}}``, where ``key`` is the model's name for text features and
``<model>@<feature set>`` for the others; ``feature_weights`` are the weights of the feature
blocks beyond the text (``citation_weight``, ``embedding_weight``, as
:class:`recommender.features.PaperFeaturizer` takes them); ``serving``, where present, is a second
choice made on the same validation with the parts that cost most per request held off
(``experiments.tune --serving``).

The service starts from the ``"served"`` section where it has an entry for its model and feature
set: one choice made jointly on validation carved from several training files at once
(``experiments.tune --served``: every user regime the service meets, one configuration), stored
as ``{"served": {key: {"params", "feature_weights"?, "validation"}}}``; the same choice made
without one dataset's likes, for reading that dataset's test files whose likes the served
choice's validation holds, is ``{"served without": {dataset: {key: ...}}}`` (the service never
trains by it unless given that file's copy, PAPERREC_TUNED_FILE). Without one, it starts
from the choice made on :data:`SERVING_SETTING` (its ``serving`` choice where there is one):
citeulike-a with 10 training papers per user, the published split that keeps each user's older
papers and asks for the newer ones, which is what a feed does, on papers described by title and
abstract, as the service's catalog is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "SERVED",
    "SERVED_WITHOUT",
    "SERVING_SETTING",
    "TUNED_PATH",
    "load_settings",
    "served_without",
    "served_without_entry",
    "serving_defaults",
    "setting_defaults",
    "settings_key",
    "tuned_choice",
    "tuned_params",
]

TUNED_PATH = Path(__file__).with_name("tuned.json")
#: ``(dataset, split)`` whose tuned settings are the service's defaults where the ``"served"``
#: section has no entry (see the module text).
SERVING_SETTING = ("citeulike-a", 10)
#: The section of the settings file holding the jointly tuned served choices.
SERVED = "served"
#: The section holding, per dataset, the same choice made without that dataset's likes
#: (``experiments.tune_served --without``): what the dataset's P=1, cold-start and holdout test
#: files, whose likes the training files hold, are read with. The service never trains by it.
SERVED_WITHOUT = "served without"


def load_settings(path: Path = TUNED_PATH) -> dict[str, Any]:
    """The tuned settings file (an empty dict when missing)."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of datasets, got {type(data).__name__}")
    return data


def settings_key(model: str, features: str = "text") -> str:
    """Key of a model's entry: tuned settings depend on the feature set."""
    return model if features == "text" else f"{model}@{features}"


def _entry(dataset: str, split: int, key: str, path: Path) -> dict[str, Any] | None:
    entry = load_settings(path).get(dataset, {}).get(f"P={split}", {}).get(key)
    return entry if isinstance(entry, dict) else None


def _choice(entry: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, float]]:
    if entry is None:
        return {}, {}
    weights = {k: float(v) for k, v in entry.get("feature_weights", {}).items()}
    return dict(entry.get("params", {})), weights


def tuned_choice(
    dataset: str, split: int, key: str, path: Path = TUNED_PATH
) -> tuple[dict[str, Any], dict[str, float]]:
    """``(hyperparameters, feature-block weights)`` validation chose for ``key`` on a setting;
    ``({}, {})`` (the model's defaults, every block at weight 1) where nothing was tuned."""
    return _choice(_entry(dataset, split, key, path))


def tuned_params(dataset: str, split: int, key: str, path: Path = TUNED_PATH) -> dict[str, Any]:
    """Hyperparameters validation chose for ``key`` on a setting, or ``{}`` (its defaults)."""
    return tuned_choice(dataset, split, key, path)[0]


def serving_defaults(
    model: str, features: str, path: Path = TUNED_PATH
) -> tuple[dict[str, Any], dict[str, float]]:
    """``(hyperparameters, feature weights)`` the service trains ``model`` with ``features`` by:
    the ``"served"`` section's entry (chosen jointly on several validation splits,
    ``experiments.tune --served``) where there is one; else the choice made on
    :data:`SERVING_SETTING` (the entry's ``serving`` choice where there is one, tuned with the
    parts that cost most per request held off, ``experiments.tune --serving``, else the entry's
    own); ``({}, {})`` (the model's own defaults) where nothing was tuned."""
    served = load_settings(path).get(SERVED, {}).get(settings_key(model, features))
    if isinstance(served, dict):
        return _choice(served)
    return setting_defaults(model, features, path)


def served_without_entry(key: str, dataset: str, path: Path = TUNED_PATH) -> dict[str, Any] | None:
    """The entry of :data:`SERVED_WITHOUT` for ``key`` and ``dataset``, or ``None``."""
    entry = load_settings(path).get(SERVED_WITHOUT, {}).get(dataset, {}).get(key)
    return entry if isinstance(entry, dict) else None


def served_without(
    model: str, features: str, dataset: str, path: Path = TUNED_PATH
) -> tuple[dict[str, Any], dict[str, float]]:
    """The served choice for ``model`` with ``features`` made without ``dataset``'s likes
    (:data:`SERVED_WITHOUT`); KeyError where none was made."""
    key = settings_key(model, features)
    entry = served_without_entry(key, dataset, path)
    if entry is None:
        raise KeyError(
            f"no served choice for {key} without {dataset} in {path}: "
            f"run python -m experiments.tune_served --features {features} --without {dataset}"
        )
    return _choice(entry)


def setting_defaults(
    model: str, features: str, path: Path = TUNED_PATH
) -> tuple[dict[str, Any], dict[str, float]]:
    """What :func:`serving_defaults` falls back to without a ``"served"`` entry: the choice made
    on :data:`SERVING_SETTING` (its ``serving`` choice where there is one)."""
    dataset, split = SERVING_SETTING
    entry = _entry(dataset, split, settings_key(model, features), path)
    return _choice(entry if entry is None else entry.get("serving", entry))
