"""The hybrid model the service serves: content neighbours + collaborative neighbours + popularity.

A user is scored from the papers passed in as liked and disliked:

* **content**: sum over liked papers of their content similarity to each candidate (top-k cosine
  neighbours of the paper vectors, symmetrised). Works from the first like, and reaches papers
  nobody has liked yet, including papers added after fitting.
* **content profile**: the cosine of each paper to the user's profile (the normalised sum of liked
  papers' vectors, minus disliked ones'). Unlike the neighbour sums it ranks *every* paper, so
  the list does not fall back on popularity beyond the liked papers' neighbourhoods; it matters
  most for users with few likes. ``profile_center`` (β, off by default) subtracts β times
  each paper's cosine to the catalog's mean direction, so that generic papers, near every
  profile, do not lead every list (:class:`~recommender.models.hybrid_parts.ProfileEvidence`).
* **collaborative**: the same with item-item cosine over co-likes (with shrinkage), which learns
  what researchers read together beyond the words.
* **popularity prior** (log-scaled, in [0, 1]): the whole answer for a user with no likes, and a
  tie-breaker among papers of equal evidence. ``pop_boost`` (off by default) also multiplies the
  summed evidence by ``1 + pop_boost * prior``: popularity then lifts papers the user's evidence
  already points to instead of adding popular papers that nothing points to. A paper nobody has
  liked yet (new, or added since the fit) has no popularity to speak of, not a low one: it is
  boosted as ``cold_boost`` times a typical liked paper (the median prior of papers with likes),
  so that new papers are not pushed below old ones of equal evidence. ``cold_prior`` (off by
  default) does the same for the prior itself, the floor ``pop_weight`` adds: where the parts
  are weak (a user whose likes have no co-likes is ranked by the profile and this floor alone),
  a floor of zero for papers nobody has liked puts every liked paper ahead of them.
* **latent factors** (optional, ``als_weight``; off by default): implicit-feedback ALS item
  factors, the user folded in from their likes at request time (:func:`factors.fold_in`), which
  generalises across chains of co-likes that the item-item neighbours do not reach.

Content neighbours are the exact top-k cosines up to :data:`PRUNED_FROM` papers (100,000); from
there ``content_knn="auto"`` (the default) finds them by
:func:`~recommender.similarity.pruned_topk_cosine`: papers that share a paper's heaviest terms,
far below the exact pass's quadratic time, when the vectors are bag-of-words-like (at
most :data:`PRUNED_MAX_PER_ROW` stored values per paper; sentence embeddings stacked in are not).
``"exact"`` / ``"pruned"`` force either.

Each evidence part is divided by its maximum for that user, so one set of weights serves a user
with 1 like and one with 500. A paper without collaborative data (nobody liked it at fit time, or
it was added since) cannot have collaborative evidence; ``cold_impute`` of the collaborative weight
is then given to its content evidence instead, so new papers compete on equal terms;
``cold_profile_weight`` (off by default) adds to the profile's weight for such papers, which
reaches them beyond the liked papers' neighbourhoods. Disliked papers contribute their
neighbourhoods negatively, on the same per-user scale. Scoring a user is two sparse
vector-matrix products (plus, when those parts are on, the profile's product with the paper
vectors and a small fold-in solve): a like counts at once.

The evidence parts (content neighbours, content profile, co-likes, ALS fold-in) live in
:mod:`recommender.models.hybrid_parts`, each with its batch and one-user forms side by side; this
module fits their state, keeps it (and saves it), and weighs and sums the parts with the
popularity prior and boost.

An optional learned **second stage** (``second_stage``: the number of candidates it orders; 0,
off, by default) re-ranks the weighted sum's best candidates with a LightGBM ranker fitted on
validation carved from the training likes (:mod:`recommender.models.second_stage`).

The module runs past 500 lines because fitting, both scoring forms, explanations and state are
one model's and read the same attributes; what can live apart (the parts, the second stage)
does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from recommender.kernels import add_scaled, boost_then_add, row_hits
from recommender.matrices import Features, State, dense, l2_normalize
from recommender.models.base import Recommender
from recommender.models.factors import gram
from recommender.models.hybrid_parts import (
    EvidencePart,
    FactorEvidence,
    NeighbourEvidence,
    ProfileEvidence,
)
from recommender.ranking import as_rows

if TYPE_CHECKING:
    from recommender.models.second_stage import SecondStage
from recommender.similarity import (
    cooccurrence_cosine,
    extend_topk_cosine,
    pruned_topk_cosine,
    symmetrize_max,
    topk_cosine,
)

log = logging.getLogger(__name__)

#: Where a hybrid keeps its per-paper vectors derived from hyperparameters (``_per_paper``).
_PER_PAPER = "_per_paper_cache"
#: Papers from which ``content_knn="auto"`` finds content neighbours by the pruned search.
PRUNED_FROM = 100_000
#: ... for vectors with at most this many stored values per paper on average (bag-of-words).
PRUNED_MAX_PER_ROW = 200


def _collecting(
    evidence: Callable[[EvidencePart], np.ndarray | None],
    names: dict[int, str],
    collect: dict[str, np.ndarray],
) -> Callable[[EvidencePart], np.ndarray | None]:
    """``evidence`` that also puts a copy of each answer in ``collect`` under its part's name."""

    def wrapped(part: EvidencePart) -> np.ndarray | None:
        e = evidence(part)
        if e is not None:
            collect[names[id(part)]] = e.copy()
        return e

    return wrapped


def _add(
    scores: np.ndarray,
    e: np.ndarray,
    weight: float | np.ndarray,
    ramp: float | np.ndarray | None = None,
) -> None:
    """``scores += e * weight (* ramp)`` in place: one compiled pass for one user's vector
    (:func:`recommender.kernels.add_scaled`, the same float operations), numpy's in-place
    products for a batch (which may scale ``e``, the caller's to spend)."""
    if scores.ndim == 1 and not isinstance(ramp, np.ndarray):
        add_scaled(scores, e, weight, 1.0 if ramp is None else ramp)
        return
    e *= weight
    if ramp is not None:
        e *= ramp
    scores += e


def _apply_boost(
    scores: np.ndarray,
    boost: np.ndarray,
    ramp: float | np.ndarray | None,
    pop_weight: float,
    prior: np.ndarray,
) -> None:
    """``scores *= b`` then ``+= pop_weight * prior``, where ``b`` is ``boost`` or, with a ramp,
    ``(boost - 1) * ramp + 1``; in place, for one user in one compiled pass."""
    if scores.ndim == 1 and not isinstance(ramp, np.ndarray):
        boost_then_add(scores, boost, ramp, pop_weight, prior)
        return
    if ramp is not None:
        boost = boost - 1.0
        boost = boost * ramp
        boost += 1.0
    scores *= boost
    scores += pop_weight * prior


class Hybrid(Recommender):
    name = "hybrid"
    uses_content = True
    #: ALS item factors and their YᵀY when ``als_weight`` is on (learned state), else None.
    als_factors_: np.ndarray | None = None
    als_gram_: np.ndarray | None = None
    #: The learned second stage when ``second_stage`` is on (learned state), else None.
    second_stage_: SecondStage | None = None
    #: The profile part, kept for the index of ``vectors_`` its one-user form builds on first
    #: use (derived, never saved).
    _profile_part: ProfileEvidence | None = None

    def __init__(
        self,
        content_weight: float = 1.0,
        cf_weight: float = 2.0,
        pop_weight: float = 0.2,
        content_neighbors: int = 100,
        cf_neighbors: int = 100,
        shrink: float = 10.0,
        sharpen: float = 2.0,
        dislike_weight: float = 0.5,
        cold_impute: float = 0.5,
        profile_weight: float = 0.0,
        als_weight: float = 0.0,
        als_factors: int = 64,
        als_regularization: float = 0.05,
        als_alpha: float = 10.0,
        pop_boost: float = 0.0,
        cold_boost: float = 1.0,
        content_knn: str = "auto",
        evidence_ramp: bool = False,
        few_profile_weight: float = 1.0,
        profile_center: float = 0.0,
        cold_profile_weight: float = 0.0,
        cold_prior: float = 0.0,
        second_stage: int = 0,
        second_stage_users: int = 1500,
        second_stage_cold: float = 0.2,
    ) -> None:
        self.content_weight = content_weight
        self.cf_weight = cf_weight
        self.pop_weight = pop_weight
        self.content_neighbors = content_neighbors
        self.cf_neighbors = cf_neighbors
        self.shrink = shrink
        self.sharpen = sharpen
        self.dislike_weight = dislike_weight
        self.cold_impute = cold_impute
        self.profile_weight = profile_weight
        self.als_weight = als_weight
        self.als_factors = als_factors
        self.als_regularization = als_regularization
        self.als_alpha = als_alpha
        self.pop_boost = pop_boost
        self.cold_boost = cold_boost
        if content_knn not in ("auto", "exact", "pruned"):
            raise ValueError(f"content_knn must be auto, exact or pruned, got {content_knn!r}")
        self.content_knn = content_knn
        self.evidence_ramp = evidence_ramp
        self.few_profile_weight = few_profile_weight
        self.profile_center = profile_center
        self.cold_profile_weight = cold_profile_weight
        self.cold_prior = cold_prior
        self.second_stage = second_stage
        self.second_stage_users = second_stage_users
        self.second_stage_cold = second_stage_cold

    # ------------------------------------------------------------------ fitting
    def _fit(
        self,
        likes: sp.csr_matrix,
        features: Features | None,
        dislikes: sp.csr_matrix | None,
        *,
        show_progress: bool,
    ) -> None:
        assert features is not None
        self.vectors_ = l2_normalize(features)
        # The raw top-k matrices are the learned state; what scoring uses is derived from them.
        if self._pruned(self.vectors_):
            self.content_knn_ = pruned_topk_cosine(
                self.vectors_, self.content_neighbors, show_progress=show_progress
            )
        else:
            self.content_knn_ = topk_cosine(
                self.vectors_, self.content_neighbors, show_progress=show_progress
            )
        self.cf_sim_ = self._sharpen(
            symmetrize_max(cooccurrence_cosine(likes, self.cf_neighbors, self.shrink))
        )
        self._derive()
        counts = np.asarray(likes.sum(axis=0), dtype=np.float32).ravel()
        self.cold_ = self.cf_sim_.getnnz(axis=0) == 0
        if dislikes is not None:
            # A paper many people disliked should not open a newcomer's list.
            counts = np.maximum(counts - np.asarray(dislikes.sum(axis=0)).ravel(), 0)
        self.prior_ = (np.log1p(counts) / max(np.log1p(counts.max(initial=0.0)), 1e-9)).astype(
            np.float32
        )
        self._set_als(None)
        if self.als_weight:
            from recommender.models.als import ALS

            als = ALS(
                factors=self.als_factors,
                regularization=self.als_regularization,
                alpha=self.als_alpha,
                dislike_confidence=self.als_alpha,
                num_threads=1,  # deterministic factors for a given seed
            ).fit(likes, dislikes=dislikes)
            self._set_als(als.item_factors_)
        self.second_stage_ = None
        if self.second_stage:
            from recommender.models.second_stage import fit_second_stage

            self.second_stage_ = fit_second_stage(
                self,
                likes,
                features,
                dislikes,
                candidates=self.second_stage,
                users=self.second_stage_users,
                cold_fraction=self.second_stage_cold,
            )

    def _pruned(self, vectors: Features) -> bool:
        """Whether the content neighbours are found by :func:`pruned_topk_cosine` (sparse vectors
        only): always with ``content_knn="pruned"``, from :data:`PRUNED_FROM` papers with
        ``"auto"``, where the exact pass, quadratic in the papers, takes hours."""
        if self.content_knn == "exact" or not sp.issparse(vectors):
            return False
        if self.content_knn == "pruned":
            return True
        # Rows of a dense block (embeddings stacked beside the text) have no "heaviest terms":
        # pruning them cost 3x what it costs TF-IDF on validation, so those take the exact pass.
        bag_of_words = sp.csr_matrix(vectors).nnz <= PRUNED_MAX_PER_ROW * vectors.shape[0]
        return bag_of_words and vectors.shape[0] >= PRUNED_FROM

    def _set_als(self, factors: np.ndarray | None) -> None:
        if factors is None:
            self.als_factors_ = self.als_gram_ = None
            return
        self.als_factors_ = np.ascontiguousarray(factors, dtype=np.float32)
        self.als_gram_ = gram(self.als_factors_)

    def _sharpen(self, S: sp.csr_matrix) -> sp.csr_matrix:
        if self.sharpen != 1.0:
            S = S.copy()
            S.data **= self.sharpen
        return S

    def _derive(self) -> None:
        self.content_sim_ = self._sharpen(symmetrize_max(self.content_knn_))
        # Called after every change of the papers (fit, load, add_items): drop what was derived
        # from the old vectors (and the per-paper weights of the old prior); it is rebuilt when a
        # request first needs it.
        self._profile_part = None
        self.__dict__.pop(_PER_PAPER, None)

    def __getstate__(self) -> dict[str, Any]:
        # What the one-user path derives on first use is neither pickled nor deep-copied (the
        # service copies the model to add papers, which drops it anyway).
        state = self.__dict__.copy()
        state.pop("_profile_part", None)
        return state

    def _add_items(self, features: Features | None, n_new: int) -> None:
        assert features is not None
        n_old = self.n_items
        new = l2_normalize(features)
        if sp.issparse(self.vectors_):
            self.vectors_ = sp.vstack([self.vectors_, sp.csr_matrix(new)], format="csr")
        else:
            self.vectors_ = np.vstack([self.vectors_, dense(new)])
        n = n_old + n_new
        self.content_knn_ = extend_topk_cosine(
            self.content_knn_, self.vectors_, n_old, self.content_neighbors
        )
        cf = sp.csr_matrix(self.cf_sim_, copy=True)
        cf.resize((n, n))
        self.cf_sim_ = cf
        self.prior_ = np.concatenate([self.prior_, np.zeros(n_new, dtype=np.float32)])
        self.cold_ = np.concatenate([self.cold_, np.ones(n_new, dtype=bool)])
        if self.als_factors_ is not None:
            # Zero factors (a neutral 0) until the next fit; YᵀY is unchanged by zero rows.
            pad = np.zeros((n_new, self.als_factors_.shape[1]), dtype=np.float32)
            self.als_factors_ = np.vstack([self.als_factors_, pad])
        self._derive()

    # ------------------------------------------------------------------ scoring
    def score_batch(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray:
        if self.second_stage_ is None:
            return self.first_stage_batch(likes, dislikes)
        parts: dict[str, np.ndarray] = {}
        scores = self.first_stage_batch(likes, dislikes, parts)
        L = sp.csr_matrix(likes)
        D = sp.csr_matrix(dislikes) if dislikes is not None else None
        none = np.empty(0, dtype=np.int64)
        for i in range(L.shape[0]):
            liked = np.sort(L.indices[L.indptr[i] : L.indptr[i + 1]])
            disliked = none if D is None else np.sort(D.indices[D.indptr[i] : D.indptr[i + 1]])
            scores[i] = self._rerank(
                scores[i], {k: v[i] for k, v in parts.items()}, liked, disliked
            )
        return scores

    def first_stage_batch(
        self,
        likes: sp.csr_matrix,
        dislikes: sp.csr_matrix | None = None,
        parts: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """The weighted sum of the parts for a batch, without the second stage; each part's
        evidence (unweighted) is put in ``parts`` by name when given (what the second stage
        reads)."""
        self._check_fitted()
        # With pop_boost the prior is added after the boost; else first (the historical order of
        # the float sums, so rankings of existing settings do not move by rounding).
        prior = 0.0 if self.pop_boost else self.pop_weight * self._floor()
        scores = np.array(np.broadcast_to(prior, (likes.shape[0], self.n_items)), dtype=np.float32)
        ramp = self._ramp_batch(likes)
        return self._weigh_and_sum(scores, lambda p: p.batch(likes, dislikes), ramp, parts)

    def _rerank(
        self,
        score: np.ndarray,
        parts: dict[str, np.ndarray],
        liked: np.ndarray,
        disliked: np.ndarray,
    ) -> np.ndarray:
        """``score`` with the second stage's order over its candidates (see
        :mod:`recommender.models.second_stage`)."""
        from recommender.models.second_stage import candidate_features

        stage = self.second_stage_
        assert stage is not None
        rows, X = candidate_features(
            score,
            parts,
            liked,
            disliked,
            prior=self.prior_,
            cold=self.cold_,
            vectors=self.vectors_,
            n=stage.candidates,
        )
        return stage.rerank(score, rows, X)

    def score(
        self, likes: Iterable[int] | np.ndarray, dislikes: Iterable[int] | np.ndarray | None = None
    ) -> np.ndarray:
        """One user (the service's path): each part's one-user form, gathered straight from the
        neighbour rows of the liked and disliked papers, the profile and the folded-in factors
        computed from those rows, without building sparse matrices per request. Equal to
        ``score_batch`` up to float rounding."""
        self._check_fitted()
        L, D = self._valid_rows(likes), self._valid_rows(dislikes)
        # In place where possible: a request's time is mostly memory traffic over n_items floats.
        # With pop_boost the prior is added after the boost (as in score_batch).
        scores: np.ndarray
        if self.pop_boost:
            scores = np.zeros(self.n_items, dtype=np.float32)
        else:
            scores = self.pop_weight * self._floor()
        ramp = self._ramp_one(L)
        if self.second_stage_ is None:
            return self._weigh_and_sum(scores, lambda part: part.one(L, D), ramp)
        parts: dict[str, np.ndarray] = {}
        scores = self._weigh_and_sum(scores, lambda part: part.one(L, D), ramp, parts)
        return self._rerank(scores, parts, L, D)

    def _ramp_one(self, liked: np.ndarray) -> float | None:
        """With ``evidence_ramp``: the share of the user's liked papers that have co-likes (the
        evidence the collaborative parts stand on), which scales the parts' weights; the rest
        goes to the content profile at ``few_profile_weight``. None when the ramp is off.

        Without co-likes (a researcher's own papers that nobody else has read, a catalog whose
        users each have one like) the neighbour lists reach a few hundred papers and the factors
        know nothing of the papers, so the list would fall back on popularity beyond them; the
        profile ranks every paper by its content instead. With co-likes for every liked paper
        the parts' weights hold as tuned."""
        if not self.evidence_ramp:
            return None
        if liked.size == 0:
            return 1.0
        return float(np.count_nonzero(~self.cold_[liked])) / liked.size

    def _ramp_batch(self, likes: sp.csr_matrix) -> np.ndarray | None:
        """:meth:`_ramp_one` of each user (row), as a column."""
        if not self.evidence_ramp:
            return None
        likes = sp.csr_matrix(likes)
        n = np.diff(likes.indptr).astype(np.float64)
        warm = np.asarray(likes @ (~self.cold_).astype(np.float64)).ravel()
        share = np.divide(warm, n, out=np.ones_like(n), where=n > 0)
        return share.astype(np.float32)[:, None]

    def _parts(self) -> list[tuple[str, float | np.ndarray, EvidencePart]]:
        """The evidence parts that are on, with their names and weights, in the order they are summed
        (the historical order of the float sums). Made from the current state and
        hyperparameters at each call (they only hold references to them), except the profile,
        whose one-user form keeps an index of the vectors."""
        content = NeighbourEvidence(self.content_sim_, self.dislike_weight)
        parts: list[tuple[str, float | np.ndarray, EvidencePart]] = [
            ("content", self._content_weights(), content)
        ]
        if self.profile_weight or self.cold_profile_weight:
            parts.append(("profile", self._profile_weights(), self._profile()))
        if self.cf_weight:
            cf = NeighbourEvidence(self.cf_sim_, self.dislike_weight)
            parts.append(("cf", self.cf_weight, cf))
        if self.als_weight and self.als_factors_ is not None:
            assert self.als_gram_ is not None
            factors = FactorEvidence(
                self.als_factors_,
                self.als_gram_,
                regularization=self.als_regularization,
                alpha=self.als_alpha,
                dislike_confidence=self.als_alpha,
            )
            parts.append(("als", self.als_weight, factors))
        return parts

    def _weigh_and_sum(
        self,
        scores: np.ndarray,
        evidence: Callable[[EvidencePart], np.ndarray | None],
        ramp: float | np.ndarray | None = None,
        collect: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """``scores`` (the prior, or zeros under ``pop_boost``) plus each part's ``evidence``
        times its weight, in place; then the popularity boost and prior when ``pop_boost`` is on.
        One part at a time: a batch holds one ``users x papers`` array of evidence, not four.

        ``ramp`` (:meth:`_ramp`: a number for one user, a column for a batch) scales the parts'
        weights and the boost, and gives the rest to the profile at ``few_profile_weight``.
        ``collect``, when given, receives a copy of each part's evidence before it is weighed,
        by name (what the second stage reads)."""
        parts = self._parts()
        if collect is not None:
            names = {id(part): name for name, _, part in parts}
            names.setdefault(id(self._profile()), "profile")
            evidence = _collecting(evidence, names, collect)
        if ramp is None:
            for _, weight, part in parts:
                e = evidence(part)
                if e is not None:
                    _add(scores, e, weight)
            if self.pop_boost:
                _apply_boost(scores, self._boost(), None, self.pop_weight, self._floor())
            return scores
        rest = 1.0 - ramp
        few = self.few_profile_weight * rest
        profile = self._profile()
        for _, weight, part in parts:
            e = evidence(part)
            if e is None:
                continue
            if part is profile and self.few_profile_weight:
                # One profile product serves both weights.
                _add(scores, e, weight * ramp + few)
                few = 0.0
            else:
                _add(scores, e, weight, ramp)
        if self.few_profile_weight and np.any(few):
            e = evidence(profile)
            if e is not None:
                _add(scores, e, few)
        if self.pop_boost:
            _apply_boost(scores, self._boost(), ramp, self.pop_weight, self._floor())
        return scores

    def _profile(self) -> ProfileEvidence:
        """The profile part of the current vectors and dislike weight (kept while they stay)."""
        part = self._profile_part
        if (
            part is None
            or part.vectors is not self.vectors_
            or part.dislike_weight != self.dislike_weight
            or part.center != self.profile_center
        ):
            part = self._profile_part = ProfileEvidence(
                self.vectors_, self.dislike_weight, self.profile_center
            )
        return part

    def _boost(self) -> np.ndarray:
        """Per paper, what ``pop_boost`` multiplies the evidence by: ``1 + pop_boost * prior``,
        with ``cold_boost`` times the median prior of liked papers standing in for the prior of a
        paper nobody has liked (kept until the weights or the papers change)."""

        def build() -> np.ndarray:
            prior = self._prior_with_unliked_at(self.cold_boost)
            return (1.0 + self.pop_boost * prior).astype(np.float32)

        return self._per_paper("boost", (self.pop_boost, self.cold_boost), build)

    def _prior_with_unliked_at(self, share: float) -> np.ndarray:
        """A float32 copy of the prior with each paper nobody has liked (no co-likes and no
        prior) at ``share`` times the median prior of the liked papers."""
        prior = self.prior_.astype(np.float32, copy=True)
        unliked = self.cold_ & (prior <= 0)
        liked = prior[prior > 0]
        typical = float(np.median(liked)) if liked.size else 0.0
        prior[unliked] = share * typical
        return prior

    def _floor(self) -> np.ndarray:
        """Per paper, the prior that ``pop_weight`` adds: the popularity prior, with
        ``cold_prior`` times the median prior of liked papers for a paper nobody has liked (the
        papers ``cold_boost`` treats alike); the prior itself while ``cold_prior`` is 0.

        Nobody having liked a paper says it is unknown, not that it is unpopular. For a user
        whose likes have no co-likes (the evidence ramp gives the profile alone against this
        floor) a zero floor lifts every liked paper above every unliked one of the same content
        by ``pop_weight`` times its prior; measured on validation, that finds targets somebody
        had liked and loses those nobody had (experiments/README.md, "The popularity floor")."""
        if not self.cold_prior:
            return self.prior_

        return self._per_paper(
            "floor", (self.cold_prior,), lambda: self._prior_with_unliked_at(self.cold_prior)
        )

    def _profile_weights(self) -> float | np.ndarray:
        """``profile_weight``, plus ``cold_profile_weight`` for papers without collaborative
        data: a number while that is off (the sums of existing settings stay as they were), else
        per paper (kept until the weights or the papers change).

        The collaborative parts (co-likes, factors, the popularity boost) say nothing of a paper
        without co-likes (nobody else liked it at fit time, or it was added since), so beside a
        warm paper of the same content it starts behind by their whole weight. ``cold_impute``
        hands some of it to the content neighbours, which reach a few hundred papers per liked
        one; this hands it to the profile, which ranks every paper: a new paper close to the
        user's interests then competes with old ones beyond the neighbourhoods too."""
        if not self.cold_profile_weight:
            return self.profile_weight
        return self._per_paper(
            "profile",
            (self.profile_weight, self.cold_profile_weight),
            lambda: (
                self.profile_weight + np.where(self.cold_, self.cold_profile_weight, 0)
            ).astype(np.float32),
        )

    def _content_weights(self) -> np.ndarray:
        """Per paper: ``content_weight``, plus ``cold_impute`` of ``cf_weight`` for papers
        without collaborative data (kept until the weights or the papers change)."""

        def build() -> np.ndarray:
            weights = self.content_weight + np.where(
                self.cold_, self.cold_impute * self.cf_weight, 0
            ).astype(np.float32)
            return weights.astype(np.float32)

        key = (self.content_weight, self.cold_impute, self.cf_weight)
        return self._per_paper("content", key, build)

    def _per_paper(
        self, name: str, key: tuple[Any, ...], build: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """The per-paper vector ``name`` (the boost, the content or the profile weights): kept
        while its hyperparameters ``key`` and the number of papers stay, else ``build()`` anew.
        :meth:`_derive` drops them all when the papers change. A new entry goes into a new dict,
        so a shallow copy of the model (another setting's weights) never changes this one's."""
        kept: dict[str, tuple[tuple[Any, ...], np.ndarray]] = self.__dict__.get(_PER_PAPER, {})
        key = (*key, self.prior_.size, self.cold_.size)
        if name not in kept or kept[name][0] != key:
            kept = {**kept, name: (key, build())}
            self.__dict__[_PER_PAPER] = kept
        return kept[name][1]

    def _valid_rows(self, rows: Iterable[int] | np.ndarray | None) -> np.ndarray:
        r = as_rows(rows)
        if r.size and (r[0] < 0 or r[-1] >= self.n_items):
            bad = r[0] if r[0] < 0 else r[-1]
            raise IndexError(f"item row out of range [0, {self.n_items}): {bad}")
        return r

    def explain(
        self, likes: Iterable[int] | np.ndarray, items: Iterable[int] | np.ndarray, n: int = 3
    ) -> list[list[int]]:
        """For each of ``items``, the liked papers whose neighbour similarity added most to its
        score (content and collaborative neighbours at their weights): the model's own reasons.
        Items that no liked paper has as a neighbour (ranked by the profile or the popularity
        prior) fall back to the content cosine of the base class."""
        L = as_rows(likes)
        items_a = np.asarray(items if isinstance(items, np.ndarray) else list(items), np.int64)
        if L.size == 0 or items_a.size == 0:
            return [[] for _ in items_a]
        contrib = np.zeros((items_a.size, L.size), dtype=np.float64)
        # Both neighbour matrices are symmetric (see _derive), so S[like, item] = S[item, like]:
        # gather the few suggested papers' rows and look the likes up in them.
        for S, w in ((self.content_sim_, self.content_weight), (self.cf_sim_, self.cf_weight)):
            if w and S.nnz:
                row_hits(S, items_a, L, w, contrib)
        best = np.argsort(-contrib, axis=1, kind="stable")[:, :n]
        best_rows = L[best].tolist()
        best_vals = np.take_along_axis(contrib, best, axis=1).tolist()
        out = [
            [r for r, v in zip(rs, vs, strict=True) if v > 0]
            for rs, vs in zip(best_rows, best_vals, strict=True)
        ]
        missing = [j for j, chosen in enumerate(out) if not chosen]
        if missing:
            for j, because in zip(missing, super().explain(L, items_a[missing], n), strict=True):
                out[j] = because
        return out

    def item_vectors(self) -> Features:
        return self.vectors_

    # ------------------------------------------------------------ persistence
    def _state(self) -> State:
        state: State = {
            "vectors": self.vectors_,
            "content_knn": self.content_knn_,
            "cf_sim": self.cf_sim_,
            "prior": self.prior_,
            "cold": self.cold_,
        }
        if self.als_factors_ is not None:
            state["als_factors"] = self.als_factors_
        if self.second_stage_ is not None:
            state["second_stage"] = self.second_stage_.to_array()
        return state

    def _load_state(self, state: State) -> None:
        v = state["vectors"]
        self.vectors_ = sp.csr_matrix(v) if sp.issparse(v) else np.asarray(v, dtype=np.float32)
        self.content_knn_ = sp.csr_matrix(state["content_knn"], dtype=np.float32)
        self.cf_sim_ = sp.csr_matrix(state["cf_sim"], dtype=np.float32)
        self.prior_ = np.asarray(state["prior"], dtype=np.float32)
        self.cold_ = np.asarray(state["cold"], dtype=bool)
        self._set_als(state.get("als_factors"))
        self.second_stage_ = None
        if "second_stage" in state:
            from recommender.models.second_stage import SecondStage

            try:
                self.second_stage_ = SecondStage.from_array(state["second_stage"])
            except ImportError as e:  # the bundle is good; this machine lacks LightGBM
                log.warning("%s: serving the first stage's order", e)
        self._derive()
