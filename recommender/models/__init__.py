"""Ranking models, one file each, all on the contract of :class:`recommender.models.base.Recommender`.

Models are registered by name and imported on first use, so a heavy dependency (LightFM) is loaded
only by whoever asks for that model.
"""

from __future__ import annotations

import importlib
from typing import Any

from recommender.models.base import Recommender

__all__ = ["MODELS", "Recommender", "create_model", "model_class"]

#: name -> "module:Class"; the order is the order of comparison tables.
MODELS: dict[str, str] = {
    "popularity": "recommender.models.popularity:Popularity",
    "content": "recommender.models.content:ContentProfile",
    "item_knn": "recommender.models.item_knn:ItemKNN",
    "linear": "recommender.models.linear:PerUserLinear",
    "als": "recommender.models.als:ALS",
    "bpr": "recommender.models.bpr:BPR",
    "lightfm": "recommender.models.lightfm:LightFMWarp",
    "lightfm_hybrid": "recommender.models.lightfm:LightFMHybrid",
    "hybrid": "recommender.models.hybrid:Hybrid",
}


def model_class(name: str) -> type[Recommender]:
    """The class registered under ``name``; ``KeyError`` listing the known names otherwise."""
    try:
        target = MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def create_model(name: str, **params: Any) -> Recommender:
    """A new, unfitted model ``name`` with hyperparameters ``params``."""
    return model_class(name)(**params)
