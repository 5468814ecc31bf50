"""Serving a trained bundle by paper id.

This is the library's face to the service: it takes and returns real paper ids (rows stay inside),
and it holds no web or storage code. The service keeps feedback in Redis, trains through
:mod:`recommender.training` and serves through an :class:`Engine`.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.ann import Method, VectorIndex
from recommender.artifacts import Bundle
from recommender.catalog import Catalog, IdMap, Paper
from recommender.exploration import PaperSpace, Policy, slate
from recommender.features import PaperFeaturizer, TfidfFeaturizer
from recommender.matrices import Features, dense
from recommender.models.base import Recommender
from recommender.models.indexed import IndexedModel
from recommender.ranking import only_candidates, top_k
from recommender.rules import RuleIndex, Rules, rank_with_rules

__all__ = ["Engine", "RankingCache", "Suggestion"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Suggestion:
    paper_id: str
    score: float
    because: list[str] = field(default_factory=list)
    #: Why a rule put it in the list (``"followed author X"``); None: the model's ranking.
    reason: str | None = None
    #: Put in the list by an exploring or diversifying policy: outside the ranker's own top k.
    explored: bool = False


@dataclass
class _Snapshot:
    """Everything a request reads, swapped as one reference so readers never see half an update."""

    #: The bundle as loaded: its version, metadata and featurizer (its model knows no paper
    #: added since; ``model`` does).
    bundle: Bundle
    #: What ranks, explains and finds similar papers: the bundle's model with the papers added
    #: since, behind an approximate index (:class:`IndexedModel`) when the engine uses one.
    model: Recommender
    ids: IdMap
    papers: dict[str, Paper]
    search_features: Features
    #: Each row's ``published`` date as a day number (``date.toordinal``), 0 where unknown.
    published: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    #: Rows of papers removed from the catalog since (kept in the model until the next
    #: retrain, never shown); empty when none is.
    removed: frozenset[int] = frozenset()
    #: The rows a list may show when some are removed (``None``: all of them).
    shown: np.ndarray | None = None
    #: What the rules look papers up by (:mod:`recommender.rules`), built on first use.
    rule_index: RuleIndex | None = None

    def rules_index(self) -> RuleIndex:
        if self.rule_index is None:  # a benign race: two builds give the same index
            self.rule_index = RuleIndex.build([self.papers.get(pid) for pid in self.ids.ids])
        return self.rule_index

    #: The papers in a few dimensions for exploring policies (built on first use, extended as
    #: papers are added; :class:`~recommender.exploration.PaperSpace`).
    space: PaperSpace | None = None


@dataclass
class _Ranked:
    """One user's ranking, as the greedy list reads it: the model's best ``rows`` (best first,
    read-only) with their ``scores``; ``complete`` when the ranking ran out before the number
    asked for (no row beyond these can be shown). ``because`` keeps each row's explanation,
    by ``(row, n)``, as it is first asked for."""

    rows: np.ndarray
    scores: np.ndarray
    complete: bool
    because: dict[tuple[int, int], list[int]] = field(default_factory=dict)


class RankingCache:
    """The rankings of the users served last, by what they are made of (liked, disliked and
    excluded rows, ``since``), for one snapshot of the engine: a request that finds its
    user's ranking here filters it instead of scoring every paper again.

    A ranking is fixed by those inputs and the snapshot (the model and its papers), so a
    like, a dislike or any change of the papers (a new snapshot) finds no entry and scores
    afresh: an answer from here is the one scoring would give. At most ``size`` rankings are
    kept, the least recently used dropped first; each holds twice the rows its first request
    needed, so that the next ones (more papers hidden as impressions grow) still fit."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._snap: _Snapshot | None = None
        self._entries: OrderedDict[tuple[bytes, bytes, bytes, int], _Ranked] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, snap: _Snapshot, key: tuple[bytes, bytes, bytes, int], n: int) -> _Ranked | None:
        """The ranking under ``key`` when it holds at least ``n`` rows (or all there are)."""
        with self._lock:
            if self._snap is not snap:
                self._snap = snap
                self._entries.clear()
            entry = self._entries.get(key)
            if entry is None or (entry.rows.size < n and not entry.complete):
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, snap: _Snapshot, key: tuple[bytes, bytes, bytes, int], entry: _Ranked) -> None:
        with self._lock:
            if self._snap is not snap:  # the engine changed while this was scored
                return
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def _since(snap: _Snapshot, since: date) -> np.ndarray:
    """Rows of the papers published on or after ``since`` (never those without a date)."""
    return np.flatnonzero(snap.published >= since.toordinal())


def _candidates(snap: _Snapshot, since: date | None) -> np.ndarray | None:
    """The rows a list may hold: those published from ``since`` (all when ``None``), less the
    removed ones; ``None`` when that is every row."""
    if since is None:
        return snap.shown
    rows = _since(snap, since)
    if snap.removed:
        rows = rows[~np.isin(rows, np.fromiter(snap.removed, np.int64, len(snap.removed)))]
    return rows


def _shown(n_rows: int, removed: frozenset[int]) -> np.ndarray | None:
    if not removed:
        return None
    keep = np.ones(n_rows, dtype=bool)
    keep[list(removed)] = False
    return np.flatnonzero(keep)


def _day_number(paper: Paper) -> int:
    """``paper``'s ``published`` date as a day number (``date.toordinal``), 0 where unknown."""
    day = paper.published_date
    return 0 if day is None else day.toordinal()


def _published_days(ids: IdMap, papers: Mapping[str, Paper]) -> np.ndarray:
    """The ``published`` day number of each row of ``ids`` (:func:`_day_number`)."""
    return np.fromiter((_day_number(papers[pid]) for pid in ids.ids), np.int32, len(ids))


class Engine:
    """A fitted bundle serving papers by id. Reads are lock-free; writes copy and swap.

    Papers in ``catalog`` that the bundle has not seen (added since training) are placed through
    their content at once, so they can be recommended before the next retrain.

    With ``ann_threshold`` set, a model that scores by vectors (see
    :meth:`~recommender.models.base.Recommender.query_vectors`) over at least that many papers
    ranks through an approximate index (``ann_method``, :mod:`recommender.ann`) built here, as an
    :class:`~recommender.models.indexed.IndexedModel` wrapping it; other models (the hybrid) are
    always scored exactly.

    With ``ranking_cache`` above 0, the greedy list (no rules, no exploring policy) of the last
    that many users is kept (:class:`RankingCache`): a user asking again without a new like
    or dislike gets the same answer without the catalog being scored again.
    """

    def __init__(
        self,
        bundle: Bundle,
        catalog: Catalog | Iterable[Paper] = (),
        *,
        ann_threshold: int | None = None,
        ann_method: Method = "ivf",
        ranking_cache: int = 0,
    ) -> None:
        if bundle.featurizer is None:
            raise ValueError("a servable bundle needs its featurizer")
        papers = {p.paper_id: p for p in catalog}
        missing = [pid for pid in bundle.paper_ids if pid not in papers]
        if missing:
            raise ValueError(
                f"the model knows {len(missing)} paper(s) the catalog lacks, e.g. {missing[0]!r}"
            )
        ids = IdMap(list(bundle.paper_ids))
        if isinstance(bundle.featurizer, TfidfFeaturizer):  # bundles written before PaperFeaturizer
            bundle = Bundle(
                bundle.model,
                bundle.paper_ids,
                PaperFeaturizer.of_text(bundle.featurizer),
                bundle.metadata,
            )
        if not isinstance(bundle.featurizer, PaperFeaturizer):
            raise ValueError(
                f"a servable bundle needs a paper featurizer, not {type(bundle.featurizer).__name__}"
            )
        texts = [papers[pid].text for pid in ids.ids]
        self._write = threading.Lock()
        self.ranking_cache = RankingCache(ranking_cache) if ranking_cache > 0 else None
        model = bundle.model
        if ann_threshold is not None and len(ids) >= ann_threshold and IndexedModel.supports(model):
            t0 = time.perf_counter()
            model = IndexedModel(model, VectorIndex(ann_method))
            log.info(
                "%s index over %d papers built in %.1fs",
                ann_method,
                len(ids),
                time.perf_counter() - t0,
            )
        search_features = bundle.featurizer.transform_text(texts)
        self._snap = _Snapshot(
            bundle, model, ids, papers, search_features, _published_days(ids, papers)
        )
        new = [p for pid, p in papers.items() if pid not in ids]
        if new:
            self.add_papers(new)

    # ----------------------------------------------------------------- reading
    @property
    def approximate(self) -> bool:
        """Whether recommendations rank through an approximate index."""
        return isinstance(self._snap.model, IndexedModel)

    @property
    def version(self) -> str:
        return self._snap.bundle.version

    @property
    def model_name(self) -> str:
        return self._snap.bundle.model.name

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._snap.bundle.metadata)

    def __len__(self) -> int:
        return len(self._snap.papers)

    def __contains__(self, paper_id: object) -> bool:
        return paper_id in self._snap.papers

    def paper(self, paper_id: str) -> Paper | None:
        return self._snap.papers.get(paper_id)

    def recommend(
        self,
        likes: Iterable[str],
        dislikes: Iterable[str] = (),
        k: int = 10,
        *,
        explain: int = 3,
        since: date | None = None,
        rules: Rules | None = None,
        exclude: Iterable[str] = (),
        policy: Policy | None = None,
        hide: Iterable[str] = (),
        avoid: Iterable[str] = (),
        rng: np.random.Generator | None = None,
        among: Iterable[str] | None = None,
    ) -> list[Suggestion]:
        """Top-``k`` papers for a user given by the ids they liked and disliked (unknown ids are
        ignored), excluding those and ``exclude``; each with the liked papers that most explain
        it. With ``since``, only papers published on or after that day (papers without a
        ``published`` date are left out), in the order of the full ranking.

        ``rules`` (:mod:`recommender.rules`) filter and promote on top of that ranking (the
        ranking is then the model's own order: exploration does not apply to a ruled list).
        ``policy`` (:mod:`recommender.exploration`; greedy when ``None``) fills the list from the
        ranking; the papers it puts there beyond the ranker's own top ``k`` are ``explored``.
        ``hide``: papers never shown (e.g. shown too often without a reaction); ``avoid``: papers
        shown only when fewer than ``k`` others are left (e.g. the previous list). ``among``:
        only these papers may be listed (unknown ids ignored; e.g. those new to a digest)."""
        s = self._snap
        L = s.ids.rows(likes, skip_unknown=True)
        D = s.ids.rows(dislikes, skip_unknown=True)
        X = np.asarray(s.ids.rows(exclude, skip_unknown=True), np.int64)
        cand = _candidates(s, since)
        if among is not None:
            only = np.unique(np.asarray(s.ids.rows(among, skip_unknown=True), np.int64))
            # No candidates (None) means every row: nothing is removed then.
            cand = only if cand is None else np.intersect1d(cand, only)
        hide = hide if isinstance(hide, list) else list(hide)
        avoid = avoid if isinstance(avoid, list) else list(avoid)
        reasons: list[str | None] = []
        ranked: _Ranked | None = None
        if rules or not (policy is None or policy.is_greedy):
            none = np.empty(0, dtype=np.int64)
            hidden = np.asarray(s.ids.rows(hide, skip_unknown=True) if hide else none, np.int64)
            hidden = np.concatenate([hidden, X])
            avoided = np.asarray(s.ids.rows(avoid, skip_unknown=True) if avoid else none, np.int64)
        if rules:
            ruled = rank_with_rules(
                lambda n, c: s.model.recommend(L, D, n, exclude=hidden, candidates=c),
                s.rules_index(),
                rules,
                k,
                cand,
            )
            rows = np.fromiter((r.row for r in ruled), np.int64, len(ruled))
            scores = np.fromiter((r.score for r in ruled), np.float64, len(ruled))
            reasons = [r.reason for r in ruled]
            explored = np.zeros(rows.size, dtype=bool)
        elif policy is None or policy.is_greedy:
            hidden_ids, avoided_ids = set(hide), set(avoid)
            n = k + len(hidden_ids) + len(avoided_ids)
            ranked = self._ranking(s, L, D, X, n, since, cand, cached=among is None)
            if hide or avoid:
                rows, scores = self._greedy_without(s, ranked, k, hidden_ids, avoided_ids)
            else:
                rows, scores = ranked.rows[:k], ranked.scores[:k]
            explored = np.zeros(rows.size, dtype=bool)
        else:
            assert policy is not None
            rows, scores, explored = self._slate(s, L, D, k, cand, policy, hidden, avoided, rng)
        reasons = reasons or [None] * len(rows)
        because = self._because(s, L, rows, explain, ranked) if explain else [[] for _ in rows]
        return [
            Suggestion(s.ids.ids[r], float(sc), [s.ids.ids[b] for b in bc], why, bool(e))
            for r, sc, bc, why, e in zip(
                rows.tolist(), scores.tolist(), because, reasons, explored.tolist(), strict=True
            )
        ]

    def _ranking(
        self,
        s: _Snapshot,
        L: np.ndarray,
        D: np.ndarray,
        X: np.ndarray,
        n: int,
        since: date | None,
        cand: np.ndarray | None,
        *,
        cached: bool = True,
    ) -> _Ranked:
        """The model's best ``n`` rows (or all there are) for liked ``L``, disliked ``D``,
        without ``X``, from ``since`` (whose rows are ``cand``): from the ranking cache when it holds them, else scored
        (and, with the cache on, twice as many kept for the next request). ``cached``: false
        when ``cand`` is more than ``since`` makes it (not part of the cache's key)."""
        cache = self.ranking_cache if cached else None
        key = None
        if cache is not None:
            key = (
                np.unique(L).tobytes(),
                np.unique(D).tobytes(),
                np.unique(X).tobytes(),
                since.toordinal() if since is not None else 0,
            )
            entry = cache.get(s, key, n)
            if entry is not None:
                return entry
        m = n if cache is None else max(2 * n, 64)
        rows, scores = s.model.recommend(L, D, m, exclude=X, candidates=cand)
        if cache is not None:
            rows = rows.astype(np.int32)  # half the memory of a kept ranking
        rows.setflags(write=False)
        scores.setflags(write=False)
        entry = _Ranked(rows, scores, rows.size < m)
        if cache is not None and key is not None:
            cache.put(s, key, entry)
        return entry

    @staticmethod
    def _because(
        s: _Snapshot, L: np.ndarray, rows: np.ndarray, n: int, ranked: _Ranked | None
    ) -> list[list[int]]:
        """The model's ``n`` reasons for each of ``rows``; with a ranking, those it has already
        explained are read from it and the others kept in it (a row's reasons depend on the
        likes and the row alone)."""
        if ranked is None:
            return s.model.explain(L, rows, n)
        known = ranked.because
        wanted = rows.tolist()
        missing = [r for r in wanted if (r, n) not in known]
        if missing:
            new = s.model.explain(L, np.asarray(missing, dtype=np.int64), n)
            for r, because in zip(missing, new, strict=True):
                known[(r, n)] = because
        return [known[(r, n)] for r in wanted]

    @staticmethod
    def _greedy_without(
        s: _Snapshot, ranked: _Ranked, k: int, hidden: set[str], avoided: set[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The greedy list without the papers in ``hidden``, and with those in ``avoided``
        only where fewer than ``k`` others are left; the same list as ``_slate`` gives with
        their rows excluded, found without a row look-up per id. A user's hidden impressions
        run to hundreds of ids, and under load their look-ups missed the cache: about 15% of a
        request. Here the ranking's top ``k + len(hidden) + len(avoided)`` (at most that many
        of which the two can take) are filtered by id, each a look-up in two small sets."""
        ids = s.ids.ids
        keep: list[int] = []
        fill: list[int] = []
        limit = k + len(hidden) + len(avoided)
        for j, r in enumerate(ranked.rows[:limit].tolist()):
            paper_id = ids[r]
            if paper_id in hidden:
                continue
            (fill if paper_id in avoided else keep).append(j)
            if len(keep) == k:
                break
        chosen = np.asarray(keep + fill[: k - len(keep)], dtype=np.int64)
        return ranked.rows[chosen], ranked.scores[chosen]

    def _slate(
        self,
        s: _Snapshot,
        L: np.ndarray,
        D: np.ndarray,
        k: int,
        cand: np.ndarray | None,
        policy: Policy,
        hidden: np.ndarray,
        avoided: np.ndarray,
        rng: np.random.Generator | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`recommend` through :func:`recommender.exploration.slate`."""
        scores = s.model.score(L, D)
        seen = np.concatenate([np.asarray(L), np.asarray(D), hidden])
        space = None if policy.is_greedy else self._space(s)
        avoid = avoided
        out = slate(
            scores,
            k,
            policy,
            exclude=np.concatenate([seen, avoid]),
            candidates=cand,
            space=space,
            likes=L,
            dislikes=D,
            rng=rng,
        )
        if out.rows.size < k and avoid.size:
            # Too few others: the avoided papers fill the list (best first) rather than leave it
            # short.
            rest = slate(
                scores,
                k,
                Policy.greedy(),
                exclude=np.concatenate([seen, out.rows]),
                candidates=cand,
            )
            keep = np.isin(rest.rows, avoid)
            fill = rest.rows[keep][: k - out.rows.size]
            return (
                np.concatenate([out.rows, fill]),
                np.concatenate([out.scores, rest.scores[keep][: fill.size]]),
                np.concatenate([out.explored, np.zeros(fill.size, dtype=bool)]),
            )
        return out.rows, out.scores, out.explored

    def _space(self, s: _Snapshot) -> PaperSpace | None:
        """The snapshot's paper space, built on first use (a truncated SVD of the model's paper
        vectors, well under a second for a catalog of tens of thousands); ``None`` for a model
        without paper vectors."""
        if s.space is None:
            vectors = s.model.item_vectors()
            if vectors is None:
                return None
            with self._write:
                if s.space is None:
                    s.space = PaperSpace.fit(vectors)
        return s.space

    def warm(self) -> None:
        """Build what exploring policies need now rather than on the first such request."""
        self._space(self._snap)

    def similar(self, paper_id: str, k: int = 10, *, since: date | None = None) -> list[Suggestion]:
        """Papers most like ``paper_id`` (``KeyError`` if unknown); with ``since``, only papers
        published on or after that day."""
        s = self._snap
        if paper_id not in s.papers:
            raise KeyError(paper_id)
        rows, scores = s.model.similar_items(
            s.ids.row(paper_id), k, candidates=_candidates(s, since)
        )
        return [Suggestion(s.ids.ids[r], float(sc)) for r, sc in zip(rows, scores, strict=True)]

    def search(self, query: str, k: int = 10, *, since: date | None = None) -> list[Suggestion]:
        """Papers whose title and abstract best match ``query`` (cosine on content features);
        with ``since``, only papers published on or after that day."""
        s = self._snap
        assert isinstance(s.bundle.featurizer, PaperFeaturizer)
        q = s.bundle.featurizer.transform_text([query])
        scores = dense(s.search_features @ q.T).ravel()
        scores = np.where(scores > 0, scores, -np.inf)
        cand = _candidates(s, since)
        if cand is not None:
            scores = only_candidates(scores, cand)
        rows, sc = top_k(scores, k)
        return [Suggestion(s.ids.ids[r], float(v)) for r, v in zip(rows, sc, strict=True)]

    # ----------------------------------------------------------------- writing
    def add_papers(self, papers: Iterable[Paper]) -> tuple[int, int]:
        """Add new papers (placed through their content) and update the metadata of known ones.

        Returns ``(created, updated)``. An updated paper keeps its fitted features until the next
        retrain. Concurrent readers keep the previous snapshot until the swap.
        """
        papers = list(papers)
        with self._write:
            s = self._snap
            new = [p for p in {p.paper_id: p for p in papers}.values() if p.paper_id not in s.ids]
            known = {p.paper_id: p for p in papers if p.paper_id in s.ids}
            model, ids, search_features = s.model, s.ids, s.search_features
            if new:
                assert isinstance(s.bundle.featurizer, PaperFeaturizer)
                feats = s.bundle.featurizer.transform(new)
                # An IndexedModel copies its model and shares its index, which keeps covering
                # the papers it was built on; new ones are scored exactly.
                model = copy.deepcopy(s.model)
                model.add_items(feats)
                ids = IdMap(s.ids.ids + [p.paper_id for p in new])
                text = s.bundle.featurizer.transform_text([p.text for p in new])
                search_features = (
                    sp.vstack([search_features, text], format="csr")
                    if sp.issparse(search_features)
                    else np.vstack([search_features, dense(text)])
                )
            # Day numbers of the new rows appended, of known papers rewritten: no pass over all.
            days = np.concatenate([s.published, np.array([_day_number(p) for p in new], np.int32)])
            for pid, p in known.items():
                days[ids.row(pid)] = _day_number(p)
            # A removed paper stored again is shown again.
            removed = s.removed - {ids.row(pid) for pid in known}
            space = s.space
            if space is not None and new:
                vectors = model.item_vectors()
                space = None if vectors is None else space.extend(vectors[len(s.ids) :])
            self._snap = _Snapshot(
                s.bundle,
                model,
                ids,
                {**s.papers, **known, **{p.paper_id: p for p in new}},
                search_features,
                days,
                removed,
                _shown(len(ids), removed),
                space=space,
            )
            return len(new), len(known)

    def remove_papers(self, paper_ids: Iterable[str]) -> int:
        """Stop showing papers that left the catalog (in no list, not found, not searched); the
        model keeps their rows until the next retrain, which no longer has them. Unknown ids
        are ignored; returns how many were removed."""
        with self._write:
            s = self._snap
            gone = {pid for pid in paper_ids if pid in s.papers}
            if not gone:
                return 0
            removed = s.removed | {s.ids.row(pid) for pid in gone}
            self._snap = replace(
                s,
                papers={pid: p for pid, p in s.papers.items() if pid not in gone},
                removed=removed,
                shown=_shown(len(s.ids), removed),
            )
            return len(gone)

    @property
    def paper_ids(self) -> list[str]:
        """Ids of the papers served (removed ones left out)."""
        return list(self._snap.papers)
