"""Recall@M curves (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from recommender.io.files import READABLE_BY_ALL, write_atomic  # noqa: E402

__all__ = ["plot_recall_curves"]


def plot_recall_curves(
    path: str | Path,
    curves: Mapping[str, Mapping[str, float]],
    cutoffs: Sequence[int],
    *,
    reference: Sequence[Mapping[str, Any]] = (),
    title: str = "",
) -> Path:
    """Write a PNG of recall@M against M: one solid line per model of ``curves`` (name -> metrics
    holding ``recall@M``) and a dashed line per ``reference`` row (published, with ``method``).
    Written atomically (:func:`~recommender.io.files.write_atomic`), readable by everyone like
    the tables beside it."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, m in curves.items():
        ys = [m.get(f"recall@{c}", float("nan")) for c in cutoffs]
        ax.plot(cutoffs, ys, marker="o", label=name)
    for row in reference:
        ys = [row.get(f"recall@{c}", float("nan")) for c in cutoffs]
        ax.plot(cutoffs, ys, linestyle="--", color="grey", label=f"published best: {row['method']}")
    ax.set_xlabel("M (list length)")
    ax.set_ylabel("recall@M")
    ax.set_xticks(list(cutoffs))
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    try:
        return write_atomic(
            path, lambda fh: fig.savefig(fh, format="png", dpi=110), mode=READABLE_BY_ALL
        )
    finally:
        plt.close(fig)
