"""The hybrid's learned second stage: its first stage's best candidates re-ranked by a
gradient-boosted ranker.

The first stage is the hybrid's weighted sum of evidence parts (:mod:`hybrid_parts`), one set of
weights for every user. What the weights cannot say is *when* each part deserves trust: the
co-likes of a user with 200 likes against the content of a user with one, the profile against
the neighbours for a paper nobody has liked. The second stage learns that: for one user, the
first stage's top :attr:`SecondStage.candidates` papers (their liked and disliked papers left
out) each get the features :data:`FEATURES` (the first stage's score and rank, each part's
evidence, the paper's popularity and whether it has co-likes, the user's like, dislike and
warm-like counts, the paper's largest and mean content similarity to the liked papers), and a
LightGBM ``lambdarank`` model orders them. Papers beyond the candidates keep the first stage's
order below them, so ``since`` and exclusions keep working on a full ranking.

The ranker is fitted on validation carved from the training likes only
(:func:`fit_second_stage`): per user with at least two likes a random share is held out, a copy
of the first stage is fitted on the rest, and the held-out likes are the labels of its
candidates. It is kept in LightGBM's own text format (never pickle) as a byte array of the model
bundle, and a bundle without it serves the first stage's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Self

import numpy as np
import scipy.sparse as sp

from recommender.matrices import Features, per_user_positions

__all__ = ["FEATURES", "SecondStage", "candidate_features", "fit_second_stage"]


class FirstStage(Protocol):
    """What the second stage reads of the hybrid (which it does not import: the hybrid imports
    it)."""

    prior_: np.ndarray
    cold_: np.ndarray
    vectors_: Features

    def first_stage_batch(
        self,
        likes: sp.csr_matrix,
        dislikes: sp.csr_matrix | None = None,
        parts: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray: ...

    def get_params(self) -> dict[str, Any]: ...

    def fit(
        self,
        likes: sp.spmatrix,
        features: Features | None = None,
        dislikes: sp.spmatrix | None = None,
        *,
        show_progress: bool = False,
    ) -> Self: ...


#: The evidence parts the hybrid can have, by the names its ``_parts`` give them.
PARTS = ("content", "profile", "cf", "als")
#: What the ranker sees of each candidate, in this order.
FEATURES = (
    "score",
    "rank",
    "score_ratio",
    *PARTS,
    "prior",
    "cold",
    "likes",
    "dislikes",
    "warm_share",
    "max_similarity",
    "mean_similarity",
)
#: At most this many of a user's likes (the latest rows) are compared with each candidate.
MAX_COMPARED = 200


def candidate_features(
    score: np.ndarray,
    parts: Mapping[str, np.ndarray],
    liked: np.ndarray,
    disliked: np.ndarray,
    *,
    prior: np.ndarray,
    cold: np.ndarray,
    vectors: Features,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One user's ``(rows, X)``: the first stage's top ``n`` rows (liked and disliked papers
    left out), best first, and their ``(len(rows), len(FEATURES))`` float32 features.

    ``score`` is the first stage's score of every paper, ``parts`` each part's evidence (a part
    that is off is missing), ``liked``/``disliked`` the user's sorted rows."""
    s = np.array(score, dtype=np.float32)
    s[liked] = -np.inf
    s[disliked] = -np.inf
    n_valid = int(np.count_nonzero(np.isfinite(s)))
    n = min(n, n_valid)
    if n <= 0:
        return np.empty(0, dtype=np.int64), np.empty((0, len(FEATURES)), dtype=np.float32)
    rows = np.argpartition(-s, n - 1)[:n] if n < s.size else np.arange(s.size)
    rows = rows[np.argsort(-s[rows], kind="stable")]
    X = np.zeros((rows.size, len(FEATURES)), dtype=np.float32)
    col = {name: j for j, name in enumerate(FEATURES)}
    top = s[rows]
    X[:, col["score"]] = top
    X[:, col["rank"]] = np.log1p(np.arange(rows.size))
    X[:, col["score_ratio"]] = top / top[0] if top[0] > 0 else 0.0
    for name in PARTS:
        if name in parts:
            X[:, col[name]] = parts[name][rows]
    X[:, col["prior"]] = prior[rows]
    X[:, col["cold"]] = cold[rows]
    X[:, col["likes"]] = np.log1p(liked.size)
    X[:, col["dislikes"]] = np.log1p(disliked.size)
    X[:, col["warm_share"]] = np.count_nonzero(~cold[liked]) / liked.size if liked.size else 0.0
    if liked.size:
        compared = liked[-MAX_COMPARED:]
        sims = vectors[rows] @ vectors[compared].T
        sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
        X[:, col["max_similarity"]] = sims.max(axis=1)
        X[:, col["mean_similarity"]] = sims.mean(axis=1)
    return rows, X


def lightgbm() -> Any:
    """The ``lightgbm`` module, or an ImportError that says how to install it."""
    try:
        import lightgbm as lgb
    except ImportError as e:
        raise ImportError(
            "the hybrid's second stage needs LightGBM: pip install 'paperrec[rerank]'"
        ) from e
    return lgb


class SecondStage:
    """A fitted LightGBM ranker over :data:`FEATURES` of a user's top ``candidates`` papers."""

    def __init__(self, model_text: str, candidates: int) -> None:
        lgb = lightgbm()
        self.model_text = model_text
        self.candidates = int(candidates)
        self.booster = lgb.Booster(model_str=model_text)
        if self.booster.num_feature() != len(FEATURES):
            raise ValueError(
                f"second stage has {self.booster.num_feature()} features, expected {len(FEATURES)}"
            )

    def rerank(self, score: np.ndarray, rows: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``score`` (the first stage's, every paper) with ``rows`` (the candidates) re-ordered
        by the ranker, all of them above every other paper, whose order stays."""
        out = np.array(score, dtype=np.float32)
        if rows.size == 0:
            return out
        p = np.asarray(self.booster.predict(X, num_threads=1), dtype=np.float64)
        finite = out[np.isfinite(out)]
        offset = float(finite.max()) + 1.0 if finite.size else 1.0
        out[rows] = (offset + (p - p.min())).astype(np.float32)
        return out

    # ------------------------------------------------------------ persistence
    def to_array(self) -> np.ndarray:
        """The ranker as bytes of LightGBM's text format, with the candidate count in front."""
        head = np.asarray([self.candidates], dtype=np.int64).view(np.uint8)
        body = np.frombuffer(self.model_text.encode("utf-8"), dtype=np.uint8)
        return np.concatenate([head, body])

    @classmethod
    def from_array(cls, array: np.ndarray) -> SecondStage:
        raw = np.asarray(array, dtype=np.uint8)
        if raw.size <= 8:
            raise ValueError("second stage: empty model")
        candidates = int(raw[:8].view(np.int64)[0])
        return cls(raw[8:].tobytes().decode("utf-8"), candidates)


def training_groups(
    model: FirstStage, train: sp.csr_matrix, held: sp.csr_matrix, users: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """``(X, labels, group sizes)`` of ``users``: the candidates ``model`` (fitted on ``train``)
    gives each, labelled 1 where ``held`` holds the paper. Users whose held-out papers are none
    of their candidates teach a ranker nothing and are left out."""
    Xs, ys, groups = [], [], []
    for start in range(0, users.size, 256):
        chunk = users[start : start + 256]
        L = train[chunk]
        parts: dict[str, np.ndarray] = {}
        scores = model.first_stage_batch(L, None, parts)
        for i, u in enumerate(chunk):
            liked = L.indices[L.indptr[i] : L.indptr[i + 1]]
            rows, X = candidate_features(
                scores[i],
                {k: v[i] for k, v in parts.items()},
                np.sort(liked),
                np.empty(0, dtype=np.int64),
                prior=model.prior_,
                cold=model.cold_,
                vectors=model.vectors_,
                n=n,
            )
            target = held.indices[held.indptr[u] : held.indptr[u + 1]]
            y = np.isin(rows, target).astype(np.float32)
            if y.any():
                Xs.append(X)
                ys.append(y)
                groups.append(rows.size)
    if not Xs:
        return np.empty((0, len(FEATURES)), np.float32), np.empty(0, np.float32), []
    return np.vstack(Xs), np.concatenate(ys), groups


#: LightGBM settings of the ranker (fixed, not searched: see experiments/second_stage.py).
RANKER_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "n_estimators": 150,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 50,
    "label_gain": [0.0, 1.0],
    "verbose": -1,
}


def fit_second_stage(
    model: FirstStage,
    likes: sp.csr_matrix,
    features: Features,
    dislikes: sp.csr_matrix | None,
    *,
    candidates: int,
    users: int,
    held_fraction: float = 0.3,
    seed: int = 0,
) -> SecondStage | None:
    """Fit the ranker of ``model``'s second stage on validation carved from ``likes`` (see the
    module text); ``users`` of them at most. None when no user has two likes to split."""
    lgb = lightgbm()

    rng = np.random.default_rng(seed)
    likes = sp.csr_matrix(likes)
    counts = np.diff(likes.indptr)
    pos = per_user_positions(likes, rng)
    n_out = np.where(counts >= 2, np.maximum(np.round(counts * held_fraction), 1), 0)
    out = pos < np.repeat(n_out, counts).astype(np.int64)
    kept = likes.copy()
    kept.data = np.where(out, 0, kept.data).astype(kept.data.dtype)
    kept.eliminate_zeros()
    held = likes.copy()
    held.data = np.where(out, held.data, 0).astype(held.data.dtype)
    held.eliminate_zeros()
    chosen = np.flatnonzero(n_out > 0)
    if chosen.size == 0:
        return None
    if chosen.size > users:
        chosen = np.sort(rng.choice(chosen, size=users, replace=False))
    params = {**model.get_params(), "second_stage": 0}
    inner = type(model)(**params).fit(kept, features, dislikes)
    X, y, groups = training_groups(inner, kept, held, chosen, candidates)
    if not groups:
        return None
    ranker = lgb.LGBMRanker(
        **RANKER_PARAMS,
        lambdarank_truncation_level=candidates,
        n_jobs=1,
        random_state=seed,
    )
    ranker.fit(X, y, group=groups)
    return SecondStage(ranker.booster_.model_to_string(), candidates)
