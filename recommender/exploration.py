"""Slate policies on top of a model's scores: greedy, MMR, epsilon-greedy and in-slate Thompson
sampling, written once for the service (:class:`~recommender.serving.Engine`) and the offline
replay of the live loop (:mod:`recommender.evaluation.loop`).

Every policy starts from the served ranker's scores of one user and works on its best ``pool``
candidates (a few hundred), never on the whole catalog, so a slate costs a few small dense
products beside the scoring itself:

* **greedy**: the ranker's top ``k`` (what :func:`recommender.ranking.top_k` gives).
* **MMR** (maximal marginal relevance): slot by slot, the candidate with the best
  ``lam * relevance - (1 - lam) * max similarity to the papers already in the slate``;
  relevance is the ranker's score rescaled to [0, 1] over the pool, similarity the cosine in the
  :class:`PaperSpace`.
* **epsilon-greedy**: each slot is, with probability ``epsilon``, a paper drawn uniformly from
  every paper the list may show, else the best one not yet in the slate (a baseline).
* **in-slate Thompson sampling**: each slot draws the user's preference from a posterior and takes
  the best paper under that draw not yet in the slate, so one slate tries several hypotheses.
  The posterior is a Bayesian linear regression in the paper space: a paper's utility is the
  ranker's rescaled score plus ``z @ w``, ``w ~ N(0, scale² (I + evidence XᵀX)⁻¹)`` with ``X``
  the rows of the papers the user liked or disliked. The ranker is the posterior mean: it
  already folds every like and dislike in at request time (no refit), so the regression adds
  what the ranker lacks, the uncertainty, which shrinks in the directions the user's feedback
  covers and stays wide where the user has said nothing.

MMR's penalty applies to Thompson's draws too (``diversity`` and ``explore`` together).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from recommender.matrices import Features, dense
from recommender.ranking import as_rows, only_candidates, top_k

__all__ = [
    "DEFAULT_DIMS",
    "DEFAULT_POOL",
    "PaperSpace",
    "Policy",
    "Posterior",
    "Slate",
    "posterior",
    "slate",
]

#: Dimensions of the paper space (a truncated SVD of the model's paper vectors).
DEFAULT_DIMS = 32
#: How many of the ranker's best candidates a policy chooses from.
DEFAULT_POOL = 300

Kind = Literal["greedy", "mmr", "epsilon", "thompson"]


@dataclass(frozen=True)
class Policy:
    """How a slate is filled. ``lam`` (MMR's relevance weight, 1 = no diversity), ``epsilon``
    (epsilon-greedy's share of random slots), ``scale`` (Thompson sampling's prior standard
    deviation, in units of the pool's score range) and ``evidence`` (how much one like or
    dislike narrows the posterior, relative to the prior's precision)."""

    kind: Kind = "greedy"
    lam: float = 1.0
    epsilon: float = 0.0
    scale: float = 0.0
    evidence: float = 1.0
    pool: int = DEFAULT_POOL

    def __post_init__(self) -> None:
        if self.kind not in ("greedy", "mmr", "epsilon", "thompson"):
            raise ValueError(f"unknown policy {self.kind!r}")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must be in [0, 1], got {self.lam}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon}")
        if self.scale < 0 or self.evidence < 0 or self.pool < 1:
            raise ValueError("scale and evidence must be >= 0 and pool >= 1")

    @classmethod
    def greedy(cls) -> Policy:
        return cls()

    @classmethod
    def mmr(cls, lam: float) -> Policy:
        return cls("mmr", lam=lam)

    @classmethod
    def epsilon_greedy(cls, epsilon: float) -> Policy:
        return cls("epsilon", epsilon=epsilon)

    @classmethod
    def thompson(cls, scale: float, *, evidence: float = 1.0, lam: float = 1.0) -> Policy:
        return cls("thompson", lam=lam, scale=scale, evidence=evidence)

    @property
    def is_greedy(self) -> bool:
        """Whether the slate is the ranker's top ``k`` whatever the draw."""
        return (
            self.kind == "greedy"
            or (self.kind == "mmr" and self.lam >= 1.0)
            or (self.kind == "epsilon" and self.epsilon <= 0.0)
            or (self.kind == "thompson" and self.scale <= 0.0 and self.lam >= 1.0)
        )

    @property
    def label(self) -> str:
        """A short name for tables: ``greedy``, ``mmr(lam=0.7)``, ..."""
        if self.kind == "greedy":
            return "greedy"
        if self.kind == "mmr":
            return f"mmr(lam={self.lam:g})"
        if self.kind == "epsilon":
            return f"epsilon(eps={self.epsilon:g})"
        extra = "" if self.lam >= 1.0 else f", lam={self.lam:g}"
        return f"thompson(scale={self.scale:g}{extra})"


@dataclass
class PaperSpace:
    """Papers as unit vectors of a few dimensions: a truncated SVD of the model's paper vectors,
    computed once per model; papers added later are projected on the same basis."""

    #: ``(dims, n_features)`` basis of the SVD.
    components: np.ndarray
    #: ``(n_items, dims)`` L2-normalised paper coordinates.
    coords: np.ndarray

    @classmethod
    def fit(cls, vectors: Features, dims: int = DEFAULT_DIMS, *, seed: int = 0) -> PaperSpace:
        n, f = vectors.shape
        d = max(1, min(dims, n - 1, f - 1))
        svd = TruncatedSVD(n_components=d, algorithm="randomized", n_iter=4, random_state=seed)
        svd.fit(vectors)
        comps = np.asarray(svd.components_, dtype=np.float32)
        return cls(comps, _project(vectors, comps))

    def extend(self, vectors: Features) -> PaperSpace:
        """This space with the rows of ``vectors`` (new papers) appended."""
        return PaperSpace(
            self.components, np.vstack([self.coords, _project(vectors, self.components)])
        )

    @property
    def dims(self) -> int:
        return int(self.coords.shape[1])

    def __len__(self) -> int:
        return int(self.coords.shape[0])


def _project(vectors: Features, components: np.ndarray) -> np.ndarray:
    z = (
        dense(vectors @ components.T)
        if sp.issparse(vectors)
        else np.asarray(vectors) @ components.T
    )
    z = np.asarray(z, dtype=np.float32)
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    return np.divide(z, norms, out=np.zeros_like(z), where=norms > 0)


@dataclass(frozen=True)
class Posterior:
    """The posterior of a user's deviation ``w`` from the ranker: ``N(0, scale² A⁻¹)`` with
    ``A = I + evidence XᵀX``; kept as the Cholesky factor of ``A``."""

    scale: float
    chol: np.ndarray = field(repr=False)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``(dims, n)`` independent draws of ``w``."""
        g = rng.standard_normal((self.chol.shape[0], n))
        # w = scale * L⁻ᵀ g has covariance scale² (L Lᵀ)⁻¹ = scale² A⁻¹.
        return self.scale * np.linalg.solve(self.chol.T, g)

    def variance(self, z: np.ndarray) -> np.ndarray:
        """Variance of the utility deviation ``z @ w`` of each row of ``z``."""
        v = np.linalg.solve(self.chol, np.atleast_2d(z).T)  # L⁻¹ zᵀ
        return self.scale**2 * (v * v).sum(axis=0)


def posterior(
    space: PaperSpace,
    likes: np.ndarray,
    dislikes: np.ndarray | None = None,
    *,
    scale: float,
    evidence: float = 1.0,
) -> Posterior:
    """The posterior after the user's likes and dislikes (rows of ``space``): both narrow it, in
    the directions of their papers."""
    rows = as_rows(likes)
    if dislikes is not None and len(dislikes):
        rows = np.concatenate([rows, as_rows(dislikes)])
    rows = rows[(rows >= 0) & (rows < len(space))]
    X = space.coords[rows].astype(np.float64)
    A = np.eye(space.dims) + evidence * (X.T @ X)
    return Posterior(float(scale), np.linalg.cholesky(A))


@dataclass(frozen=True)
class Slate:
    """A filled slate: ``rows`` in slot order, the ranker's ``scores`` of them, and ``explored``:
    whether each row is outside the ranker's own top ``k`` (the policy put it there)."""

    rows: np.ndarray
    scores: np.ndarray
    explored: np.ndarray


def _rescale(s: np.ndarray) -> np.ndarray:
    """Scores rescaled to [0, 1] over the pool (best 1, worst 0)."""
    lo, hi = float(s.min()), float(s.max())
    if not math.isfinite(hi - lo) or hi - lo <= 0:
        return np.zeros(s.size, dtype=np.float64)
    return (s.astype(np.float64) - lo) / (hi - lo)


def slate(
    scores: np.ndarray,
    k: int,
    policy: Policy,
    *,
    exclude: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
    space: PaperSpace | None = None,
    likes: np.ndarray | None = None,
    dislikes: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> Slate:
    """Fill a slate of ``k`` papers for one user from the ranker's ``scores`` of every paper.

    ``exclude`` and ``candidates`` as in :func:`recommender.ranking.top_k` /
    :func:`~recommender.ranking.only_candidates`; ``space`` (needed by MMR and, for correlated
    draws, Thompson sampling; without it Thompson's deviations are independent per paper);
    ``likes`` and ``dislikes`` (rows) narrow Thompson's posterior; ``rng`` makes the draws
    reproducible. No paper appears twice; fewer than ``k`` come back only when fewer may be
    shown."""
    base = only_candidates(np.asarray(scores), candidates)
    if policy.is_greedy:
        rows, sc = top_k(base, k, exclude)
        return Slate(rows, sc, np.zeros(rows.size, dtype=bool))
    rng = rng if rng is not None else np.random.default_rng()
    pool_rows, pool_scores = top_k(base, max(policy.pool, k), exclude)
    if pool_rows.size == 0:
        return Slate(pool_rows, pool_scores, np.zeros(0, dtype=bool))
    if policy.kind == "epsilon":
        chosen = _epsilon(base, k, policy.epsilon, pool_rows, exclude, rng)
    else:
        chosen = _sequential(pool_rows, pool_scores, k, policy, space, likes, dislikes, rng)
    greedy = set(pool_rows[:k].tolist())
    rows = np.asarray(chosen, dtype=np.int64)
    s = np.asarray(base, dtype=np.float32)[rows] if rows.size else np.empty(0, np.float32)
    explored = np.fromiter((r not in greedy for r in chosen), dtype=bool, count=len(chosen))
    return Slate(rows, s, explored)


def _sequential(
    pool_rows: np.ndarray,
    pool_scores: np.ndarray,
    k: int,
    policy: Policy,
    space: PaperSpace | None,
    likes: np.ndarray | None,
    dislikes: np.ndarray | None,
    rng: np.random.Generator,
) -> list[int]:
    """MMR and Thompson sampling: slot by slot, the best candidate under that slot's utility
    (a posterior draw, or the rescaled score) less the MMR penalty, never one already taken."""
    n = pool_rows.size
    k = min(k, n)
    rel = _rescale(pool_scores)
    utilities = np.broadcast_to(rel[:, None], (n, k))
    Z = space.coords[pool_rows].astype(np.float64) if space is not None else None
    if policy.kind == "thompson" and policy.scale > 0:
        if Z is not None and space is not None:
            post = posterior(
                space,
                likes if likes is not None else np.empty(0, np.int64),
                dislikes,
                scale=policy.scale,
                evidence=policy.evidence,
            )
            utilities = rel[:, None] + Z @ post.draw(rng, k)
        else:
            utilities = rel[:, None] + policy.scale * rng.standard_normal((n, k))
    lam = policy.lam
    penalty = np.zeros(n)
    taken = np.zeros(n, dtype=bool)
    chosen: list[int] = []
    for j in range(k):
        value = (
            utilities[:, j]
            if lam >= 1.0 or Z is None
            else lam * utilities[:, j] - (1 - lam) * penalty
        )
        value = np.where(taken, -np.inf, value)
        i = int(np.argmax(value))
        taken[i] = True
        chosen.append(int(pool_rows[i]))
        if lam < 1.0 and Z is not None:
            penalty = np.maximum(penalty, Z @ Z[i])
    return chosen


def _epsilon(
    base: np.ndarray,
    k: int,
    epsilon: float,
    pool_rows: np.ndarray,
    exclude: np.ndarray | None,
    rng: np.random.Generator,
) -> list[int]:
    """Epsilon-greedy: a random showable paper with probability ``epsilon``, else the next best."""
    banned = np.zeros(base.size, dtype=bool)
    banned[~np.isfinite(base)] = True
    if exclude is not None and len(exclude):
        ex = np.asarray(exclude, dtype=np.int64)
        banned[ex[(ex >= 0) & (ex < base.size)]] = True
    chosen: list[int] = []
    taken: set[int] = set()
    nxt = 0
    for _ in range(k):
        pick = -1
        if rng.random() < epsilon:
            # Rejection sampling: almost every paper is showable, so this ends at once.
            for _try in range(64):
                r = int(rng.integers(0, base.size))
                if not banned[r] and r not in taken:
                    pick = r
                    break
        if pick < 0:
            while nxt < pool_rows.size and int(pool_rows[nxt]) in taken:
                nxt += 1
            if nxt >= pool_rows.size:
                break
            pick = int(pool_rows[nxt])
        taken.add(pick)
        chosen.append(pick)
    return chosen
