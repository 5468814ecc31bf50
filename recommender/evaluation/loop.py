"""The live loop, offline: simulated users through rounds of slates and likes.

Each simulated user starts from a few likes, with the rest of their library held out as what they
would like. Each round a :class:`~recommender.exploration.Policy` fills a slate of ``k`` papers
from those the user has not been shown (nor liked or disliked); the user likes the shown papers
that are in their held-out library and, with probability ``dislike_prob``, dislikes each of the
others. The new likes and dislikes are folded in as the service folds them in: the model scores
the user from the likes and dislikes passed in (:meth:`~recommender.models.base.Recommender.score`),
without a refit; ``refit`` (every ``retrain_every`` rounds) stands for the service's retrain.

A held-out library is a lower bound on what a person would like: a shown paper outside it counts
as a miss although the person might have liked it. Policies that show papers the ranker is unsure
of are penalised by that more than greedy ones are.

Seeded and reproducible: a user's random stream (their dislikes, the policy's draws) depends only
on ``seed`` and the user's row, so two policies meet the same user with the same luck.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from recommender.exploration import PaperSpace, Policy, slate
from recommender.models.base import Recommender

__all__ = ["LoopResult", "SimUser", "simulate"]


@dataclass(frozen=True)
class SimUser:
    """A simulated user: their row (an id for seeding), the rows they start with, and the rows
    they would like if shown (their held-out library)."""

    row: int
    start: np.ndarray
    held_out: np.ndarray


@dataclass
class LoopResult:
    """Per user (rows) and round (columns): ``hits`` of that round; ``found``: the share of the
    held-out library found so far; ``clusters``: distinct clusters among the papers shown so far
    (when clusters were given). ``coverage[r]``: the share of the catalog shown to anyone by the
    end of round ``r``."""

    policy: str
    hits: np.ndarray
    found: np.ndarray
    clusters: np.ndarray
    coverage: np.ndarray
    #: Final state per user (for tests and further analysis): liked, disliked and shown rows.
    likes: list[np.ndarray] = field(default_factory=list)
    dislikes: list[np.ndarray] = field(default_factory=list)
    shown: list[np.ndarray] = field(default_factory=list)

    @property
    def cumulative_hits(self) -> np.ndarray:
        return np.cumsum(self.hits, axis=1)


Refit = Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], Recommender]


def simulate(
    model: Recommender,
    users: Sequence[SimUser],
    policy: Policy,
    *,
    rounds: int = 20,
    k: int = 10,
    space: PaperSpace | None = None,
    clusters: np.ndarray | None = None,
    dislike_prob: float = 0.0,
    refit: Refit | None = None,
    retrain_every: int = 0,
    seed: int = 0,
    progress: bool = False,
) -> LoopResult:
    """Run ``users`` through ``rounds`` rounds of ``policy`` on ``model``.

    ``space``: the paper space of MMR and Thompson sampling (:class:`PaperSpace`); ``clusters``:
    a cluster label per paper (e.g. k-means of the content), for the clusters reached;
    ``refit(likes, dislikes)`` returns a model refitted with every simulated user's current likes
    and dislikes (one array of rows per user, in ``users`` order), called after every
    ``retrain_every`` rounds when both are given."""
    n_users, n_items = len(users), model.n_items
    if not 0.0 <= dislike_prob <= 1.0:
        raise ValueError(f"dislike_prob must be in [0, 1], got {dislike_prob}")
    rngs = [np.random.default_rng([seed, u.row]) for u in users]
    held = [np.zeros(n_items, dtype=bool) for _ in users]
    for h, u in zip(held, users, strict=True):
        h[u.held_out] = True
    likes: list[list[int]] = [list(map(int, u.start)) for u in users]
    dislikes: list[list[int]] = [[] for _ in users]
    shown: list[list[int]] = [[] for _ in users]
    seen_clusters: list[set[int]] = [set() for _ in users]
    anyone = np.zeros(n_items, dtype=bool)
    hits = np.zeros((n_users, rounds), dtype=np.int64)
    found = np.zeros((n_users, rounds), dtype=np.float64)
    n_clusters = np.zeros((n_users, rounds), dtype=np.int64)
    coverage = np.zeros(rounds, dtype=np.float64)
    total = [max(int(u.held_out.size), 1) for u in users]
    found_so_far = [0] * n_users
    bar = tqdm(total=rounds * n_users, desc=policy.label, disable=not progress, leave=False)
    for r in range(rounds):
        for i in range(n_users):
            L = np.asarray(likes[i], dtype=np.int64)
            D = np.asarray(dislikes[i], dtype=np.int64)
            scores = model.score(L, D if D.size else None)
            exclude = np.concatenate([L, D, np.asarray(shown[i], dtype=np.int64)])
            s = slate(
                scores, k, policy, exclude=exclude, space=space, likes=L, dislikes=D, rng=rngs[i]
            )
            rows = s.rows.tolist()
            shown[i] += rows
            anyone[s.rows] = True
            liked = [x for x in rows if held[i][x]]
            likes[i] += liked
            if dislike_prob > 0:
                dislikes[i] += [
                    x for x in rows if not held[i][x] and rngs[i].random() < dislike_prob
                ]
            hits[i, r] = len(liked)
            found_so_far[i] += len(liked)
            found[i, r] = found_so_far[i] / total[i]
            if clusters is not None:
                seen_clusters[i].update(clusters[s.rows].tolist())
                n_clusters[i, r] = len(seen_clusters[i])
            bar.update(1)
        coverage[r] = anyone.mean()
        if refit is not None and retrain_every > 0 and (r + 1) % retrain_every == 0:
            model = refit(
                [np.asarray(x, dtype=np.int64) for x in likes],
                [np.asarray(x, dtype=np.int64) for x in dislikes],
            )
    bar.close()
    return LoopResult(
        policy.label,
        hits,
        found,
        n_clusters,
        coverage,
        [np.asarray(x, dtype=np.int64) for x in likes],
        [np.asarray(x, dtype=np.int64) for x in dislikes],
        [np.asarray(x, dtype=np.int64) for x in shown],
    )
