"""The replay's tables and plots (:mod:`experiments.replay` measures, this writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from recommender.io.files import READABLE_BY_ALL, write_atomic  # noqa: E402

__all__ = ["markdown", "plot"]


def _ci(v: list[float], digits: int = 2) -> str:
    return f"{v[0]:.{digits}f} [{v[1]:.{digits}f}, {v[2]:.{digits}f}]"


def markdown(result: dict[str, Any]) -> str:
    """Per start: cumulative hits by round for each policy, then the last round's metrics."""
    lines = [
        f"Replay of {result['dataset']}: {result['users_reported']} users reported "
        f"(settings chosen on {result['users_tuning']} others), {result['rounds']} rounds of "
        f"{result['k']} papers, dislike probability {result['dislike_prob']}, "
        f"retrain every {result['retrain_every'] or 'never'}; `{result['command']}`, "
        f"{result['date']}, {result['wall_seconds']:.0f}s. Means with 95% bootstrap intervals "
        "over users.",
        "",
        "Settings tried on the tuning half (mean cumulative hits at the last round, mean over "
        "the starts): "
        + "; ".join(
            f"{label} {v:.3f}"
            for tried in result["tuning"].values()
            for label, v in tried.items()
            if v == v  # greedy has nothing to tune (NaN)
        )
        + ".",
        "",
    ]
    for start, policies in result["by_start"].items():
        names = list(policies)
        lines += [
            f"### {start} starting like{'s' if start != '1' else ''}: cumulative hits by round",
            "",
            "| round | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for r in range(result["rounds"]):
            cells = [_ci(policies[n]["cumulative hits"][r]) for n in names]
            lines.append(f"| {r + 1} | " + " | ".join(cells) + " |")
        last = result["rounds"] - 1
        lines += [
            "",
            f"After round {last + 1}:",
            "",
            "| policy | cumulative hits | minus greedy (p) | hits in last round | share found "
            "| clusters reached | catalog coverage |",
            "|---|---|---|---|---|---|---|",
        ]
        for n in names:
            p = policies[n]
            d = p["vs greedy"][last]
            lines.append(
                f"| {n} | {_ci(p['cumulative hits'][last])} | "
                f"{d[0]:+.2f} [{d[1]:+.2f}, {d[2]:+.2f}] (p={d[3]:.3f}) | {_ci(p['hits'][last])} | "
                f"{_ci(p['found'][last], 3)} | {_ci(p['clusters'][last], 1)} | "
                f"{p['coverage'][last]:.4f} |"
            )
        lines.append("")
    return "\n".join(lines)


def _save(fig: Any, path: Path) -> None:
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=110), mode=READABLE_BY_ALL)
    finally:
        plt.close(fig)


def plot(out: Path, result: dict[str, Any]) -> None:
    """``replay.png``: cumulative hits against rounds per policy, one panel per start, with
    intervals; ``replay_vs_greedy.png``: each policy minus greedy, with intervals."""
    starts = list(result["by_start"])
    rounds = list(range(1, result["rounds"] + 1))
    for name, key, ylabel in (
        ("replay.png", "cumulative hits", "cumulative hits per user"),
        ("replay_vs_greedy.png", "vs greedy", "cumulative hits minus greedy's"),
    ):
        fig, axes = plt.subplots(1, len(starts), figsize=(5 * len(starts), 4), squeeze=False)
        for ax, start in zip(axes[0], starts, strict=True):
            for policy, m in result["by_start"][start].items():
                v = m[key]
                ax.plot(rounds, [x[0] for x in v], marker=".", label=policy)
                ax.fill_between(rounds, [x[1] for x in v], [x[2] for x in v], alpha=0.15)
            if key == "vs greedy":
                ax.axhline(0, color="grey", linewidth=0.8)
            ax.set_title(f"{result['dataset']}, {start} starting likes")
            ax.set_xlabel("round")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize="small")
        fig.tight_layout()
        _save(fig, out / name)
