"""Content features from paper text: TF-IDF over title + abstract, with an optional dense LSA
reduction. Papers added later are transformed with the fitted vocabulary, without refitting.

Citation links, where papers carry them, give a second view of content
(:class:`CitationFeaturizer`); :func:`stack_features` joins views with weights. Sentence embeddings
(optional extra ``[embed]``) live in :mod:`recommender.embeddings`. :class:`PaperFeaturizer` is
the combination a served model is trained on: text, plus citations and embeddings when asked,
as a :class:`FeatureSet` says (the one reader of the names ``text+citations`` and so on).

About 500 lines: the featurizers, the sets that combine them and the weights of the blocks are
read together, and each part is short.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.preprocessing import normalize

from recommender.catalog import IdMap, Paper
from recommender.embeddings import SentenceEmbedder
from recommender.matrices import Features, State

__all__ = [
    "FEATURE_SETS",
    "FEATURE_WEIGHTS",
    "CitationFeaturizer",
    "FeatureSet",
    "PaperFeaturizer",
    "TfidfFeaturizer",
    "check_feature_weights",
    "stack_features",
]


@dataclass(frozen=True)
class FeatureSet:
    """Which content blocks papers are described by: TF-IDF text always, plus citation links
    and/or sentence embeddings. Named ``text``, ``text+citations``, ``text+embed`` and
    ``text+embed+citations`` (:data:`FEATURE_SETS`): the name is what settings, bundles and
    tuned entries hold, and :meth:`parse` is the only reader of it."""

    citations: bool = False
    embed: bool = False

    @classmethod
    def parse(cls, value: FeatureSet | str) -> FeatureSet:
        """The feature set named ``value`` (a :class:`FeatureSet` is returned as it is);
        ``ValueError`` listing the names for any other text."""
        if isinstance(value, FeatureSet):
            return value
        for fs in _ALL_SETS:
            if fs.name == value:
                return fs
        raise ValueError(f"unknown feature set {value!r}; known: {', '.join(FEATURE_SETS)}")

    @property
    def name(self) -> str:
        """The canonical name (embed before citations, as the names have always been)."""
        return "+".join(self.blocks)

    def __str__(self) -> str:
        return self.name

    @property
    def blocks(self) -> tuple[str, ...]:
        """The blocks of the set in the order :class:`PaperFeaturizer` stacks them: ``text``,
        then ``embed`` and ``citations`` where present (the names :data:`FEATURE_WEIGHTS` uses)."""
        return (
            ("text",)
            + (("embed",) if self.embed else ())
            + (("citations",) if self.citations else ())
        )

    def without_citations(self) -> FeatureSet:
        """The same set without citation links."""
        return FeatureSet(citations=False, embed=self.embed)

    def for_catalog(self, *, has_references: bool) -> FeatureSet:
        """What a catalog really gets of this set: citation links only where some paper has
        ``references`` (:class:`PaperFeaturizer` leaves an empty block out)."""
        return self if has_references else self.without_citations()


# Every combination once, in the order the names have always been listed (and shown in errors).
_ALL_SETS = tuple(FeatureSet(citations=c, embed=e) for e in (False, True) for c in (False, True))
#: The names of the feature sets (:class:`FeatureSet`) a :class:`PaperFeaturizer` can be asked for.
FEATURE_SETS = tuple(fs.name for fs in _ALL_SETS)
#: Weights of the blocks beside the text (which weighs 1), as :class:`PaperFeaturizer` takes
#: them: weight name -> the block it weighs.
FEATURE_WEIGHTS = {"citation_weight": "citations", "embedding_weight": "embed"}


def check_feature_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """``weights`` as a dict, checked against :data:`FEATURE_WEIGHTS` (a clear error for a
    misspelt name instead of a silently ignored or rejected keyword)."""
    out = dict(weights or {})
    unknown = sorted(set(out) - set(FEATURE_WEIGHTS))
    if unknown:
        raise ValueError(
            f"unknown feature weight(s) {', '.join(unknown)}; known: {', '.join(FEATURE_WEIGHTS)}"
        )
    return out


log = logging.getLogger(__name__)


class TfidfFeaturizer:
    """TF-IDF (sublinear tf, L2-normalised rows) over texts or given word counts, optionally
    reduced to ``lsa_components`` dense dimensions (then L2-normalised again).

    Fit on texts with :meth:`fit` or on a bag-of-words count matrix with :meth:`fit_counts` (the
    citeulike-t ``mult.dat`` form, where the vocabulary is given). ``transform``/``transform_counts``
    map new papers into the same space.
    """

    def __init__(
        self,
        *,
        max_features: int | None = 50_000,
        min_df: int = 2,
        max_df: float = 0.5,
        ngram_max: int = 1,
        sublinear_tf: bool = True,
        lsa_components: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.ngram_max = ngram_max
        self.sublinear_tf = sublinear_tf
        self.lsa_components = lsa_components
        self.random_state = random_state
        self.vocabulary: list[str] = []
        self.idf: np.ndarray | None = None
        self.components: np.ndarray | None = None  # LSA: (k, vocab)
        self.from_counts = False
        self._vec: TfidfVectorizer | None = None  # the transform's, built once (_vectorizer)

    # ------------------------------------------------------------------ fitting
    def fit(self, texts: Sequence[str]) -> Self:
        """Learn the vocabulary, IDF weights and the optional LSA basis from texts."""
        min_df = self.min_df if len(texts) >= 2 * self.min_df else 1
        vec = TfidfVectorizer(
            max_features=self.max_features,
            min_df=min_df,
            max_df=self.max_df if len(texts) > 10 else 1.0,
            ngram_range=(1, self.ngram_max),
            sublinear_tf=self.sublinear_tf,
            stop_words="english",
            dtype=np.float32,
        )
        X = vec.fit_transform(texts)
        self.vocabulary = vec.get_feature_names_out().tolist()
        self.idf = vec.idf_.astype(np.float32)
        self.from_counts = False
        self._vec = None
        self._fit_lsa(X)
        return self

    def fit_counts(self, counts: sp.spmatrix, vocabulary: Sequence[str]) -> Self:
        """Learn IDF weights (and LSA) from a ``papers x words`` count matrix with its vocabulary."""
        counts = sp.csr_matrix(counts, dtype=np.float32)
        if counts.shape[1] != len(vocabulary):
            raise ValueError(
                f"count matrix has {counts.shape[1]} columns but the vocabulary {len(vocabulary)} words"
            )
        tr = TfidfTransformer(sublinear_tf=self.sublinear_tf).fit(counts)
        self.vocabulary = list(vocabulary)
        self.idf = tr.idf_.astype(np.float32)
        self.from_counts = True
        self._vec = None
        self._fit_lsa(self._weight(counts))
        return self

    def _fit_lsa(self, X: sp.csr_matrix) -> None:
        self.components = None
        if self.lsa_components:
            k = min(self.lsa_components, X.shape[1] - 1, X.shape[0] - 1)
            if k >= 1:
                svd = TruncatedSVD(n_components=k, random_state=self.random_state)
                svd.fit(X)
                self.components = svd.components_.astype(np.float32)

    # --------------------------------------------------------------- transform
    @property
    def dim(self) -> int:
        if self.components is not None:
            return int(self.components.shape[0])
        return len(self.vocabulary)

    def transform(self, texts: Sequence[str]) -> Features:
        """Features of new texts in the fitted space (unknown words are ignored)."""
        self._check()
        vec = self._vectorizer()
        if self.from_counts:
            return self._reduce(self._weight(vec.transform(texts)))
        return self._reduce(sp.csr_matrix(vec.transform(texts), dtype=np.float32))

    def _vectorizer(self) -> TfidfVectorizer:
        """The vectorizer ``transform`` uses, built once per fitted state: building one checks
        the whole vocabulary (about 6 ms for citeulike-a's 28,750 words), which every added
        paper and every search query would pay otherwise. Two threads may both build it; they
        build the same, and the finished one is shared (transforming changes nothing in it)."""
        vec = self._vec
        if vec is None:
            if self.from_counts:
                # Fitted on word ids: count the fitted vocabulary's words in the texts.
                vec = TfidfVectorizer(vocabulary=self.vocabulary, use_idf=False, norm=None)
                vec.fit([""])  # a fixed vocabulary: learns nothing, validates it
            else:
                vec = TfidfVectorizer(
                    vocabulary=self.vocabulary,
                    ngram_range=(1, self.ngram_max),
                    sublinear_tf=self.sublinear_tf,
                    dtype=np.float32,
                )
                vec.idf_ = self.idf
            vec.transform([""])  # its lazy checks run now, before it is shared
            self._vec = vec
        return vec

    def transform_counts(self, counts: sp.spmatrix) -> Features:
        """Features of papers given as word counts over the fitted vocabulary."""
        self._check()
        counts = sp.csr_matrix(counts, dtype=np.float32)
        if counts.shape[1] != len(self.vocabulary):
            raise ValueError(
                f"count matrix has {counts.shape[1]} columns, vocabulary has {len(self.vocabulary)}"
            )
        return self._reduce(self._weight(counts))

    def fit_transform(self, texts: Sequence[str]) -> Features:
        return self.fit(texts).transform(texts)

    def _weight(self, counts: sp.spmatrix) -> sp.csr_matrix:
        assert self.idf is not None
        X = sp.csr_matrix(counts, dtype=np.float32, copy=True)
        if self.sublinear_tf:
            np.log(X.data, out=X.data)
            X.data += 1.0
        X = X @ sp.diags(self.idf)
        return sp.csr_matrix(normalize(X, norm="l2"), dtype=np.float32)

    def _reduce(self, X: sp.csr_matrix) -> Features:
        if self.components is None:
            return X
        Z = np.asarray(X @ self.components.T, dtype=np.float32)
        return normalize(Z, norm="l2").astype(np.float32)

    def _check(self) -> None:
        if self.idf is None:
            raise RuntimeError("TfidfFeaturizer is not fitted: call fit() or fit_counts() first")

    # ------------------------------------------------------------ persistence
    def get_params(self) -> dict[str, Any]:
        return {
            "max_features": self.max_features,
            "min_df": self.min_df,
            "max_df": self.max_df,
            "ngram_max": self.ngram_max,
            "sublinear_tf": self.sublinear_tf,
            "lsa_components": self.lsa_components,
            "random_state": self.random_state,
        }

    def state(self) -> tuple[dict[str, Any], State]:
        """``(json_part, arrays)`` for :mod:`recommender.artifacts`."""
        self._check()
        assert self.idf is not None
        arrays: State = {"idf": self.idf}
        if self.components is not None:
            arrays["components"] = self.components
        return {"vocabulary": self.vocabulary, "from_counts": self.from_counts}, arrays

    @classmethod
    def from_state(
        cls, params: dict[str, Any], json_part: dict[str, Any], arrays: State
    ) -> TfidfFeaturizer:
        f = cls(**params)
        f.vocabulary = list(json_part["vocabulary"])
        f.from_counts = bool(json_part["from_counts"])
        f.idf = np.asarray(arrays["idf"], dtype=np.float32)
        comps = arrays.get("components")
        f.components = None if comps is None else np.asarray(comps, dtype=np.float32)
        return f


class CitationFeaturizer:
    """A paper as the set of papers it is linked to by citation (either direction) plus itself,
    IDF-weighted and L2-normalised: two papers that cite or are cited by the same papers come out
    alike, whatever words they use. Columns are the papers known at fit time; a paper added
    later is placed through its own ``references`` to them."""

    def __init__(self, *, include_self: bool = True) -> None:
        self.include_self = include_self
        self.ids = IdMap()
        self.links: sp.csr_matrix | None = None  # symmetric fit-time adjacency
        self.idf: np.ndarray | None = None
        self._own: sp.csr_matrix | None = None  # links (+ each paper itself), built once

    def fit(self, papers: Sequence[Paper]) -> Self:
        self.ids = IdMap([p.paper_id for p in papers])
        n = len(self.ids)
        A = self._references(papers)
        A = sp.csr_matrix(((A + A.T) > 0).astype(np.float32))
        self.links = A
        self._own = None
        df = np.asarray(A.sum(axis=0)).ravel() + (1.0 if self.include_self else 0.0)
        self.idf = np.log((n + 1) / (df + 1)).astype(np.float32) + 1.0
        return self

    def _references(self, papers: Sequence[Paper]) -> sp.csr_matrix:
        rows, cols = [], []
        for r, p in enumerate(papers):
            for ref in p.references:
                if ref in self.ids:
                    rows.append(r)
                    cols.append(self.ids.row(ref))
        A = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(papers), len(self.ids)),
        )
        A.sum_duplicates()
        A.data[:] = 1.0
        return A

    def transform(self, papers: Sequence[Paper]) -> sp.csr_matrix:
        """Rows for ``papers``: known ones with their fit-time links in both directions, new ones
        with their own references."""
        if self.links is None or self.idf is None:
            raise RuntimeError("CitationFeaturizer is not fitted: call fit() first")
        r_known = np.fromiter(
            (r for r, p in enumerate(papers) if p.paper_id in self.ids), dtype=np.int64
        )
        rows = self.ids.rows(papers[r].paper_id for r in r_known)
        # Known papers select their fit-time rows of links (+ themselves).
        select = sp.csr_matrix(
            (np.ones(r_known.size, dtype=np.float32), (r_known, rows)),
            shape=(len(papers), len(self.ids)),
        )
        own = self._own
        if own is None:  # one pass over all links, not one per added paper
            own = self.links
            if self.include_self:
                own = sp.csr_matrix(own + sp.eye(len(self.ids), dtype=np.float32, format="csr"))
            self._own = own
        X = sp.csr_matrix(self._references(papers) + select @ own, dtype=np.float32)
        X.data[:] = 1.0
        X.data *= self.idf[X.indices]  # the IDF weights, without an n x n diagonal per call
        return sp.csr_matrix(normalize(X, norm="l2"), dtype=np.float32)

    def fit_transform(self, papers: Sequence[Paper]) -> sp.csr_matrix:
        return self.fit(papers).transform(papers)

    # ------------------------------------------------------------ persistence
    def get_params(self) -> dict[str, Any]:
        return {"include_self": self.include_self}

    def state(self) -> tuple[dict[str, Any], State]:
        """``(json_part, arrays)`` for :mod:`recommender.artifacts`."""
        if self.links is None or self.idf is None:
            raise RuntimeError("CitationFeaturizer is not fitted: call fit() first")
        return {"paper_ids": list(self.ids.ids)}, {"links": self.links, "idf": self.idf}

    @classmethod
    def from_state(
        cls, params: dict[str, Any], json_part: dict[str, Any], arrays: State
    ) -> CitationFeaturizer:
        f = cls(**params)
        f.ids = IdMap(list(json_part["paper_ids"]))
        f.links = sp.csr_matrix(arrays["links"], dtype=np.float32)
        f.idf = np.asarray(arrays["idf"], dtype=np.float32)
        if f.links.shape != (len(f.ids), len(f.ids)) or f.idf.shape != (len(f.ids),):
            raise ValueError("citation features do not match their paper ids")
        return f


class PaperFeaturizer:
    """Papers -> content features: TF-IDF of title + abstract, plus, when asked, citation links
    (:class:`CitationFeaturizer`) and sentence embeddings (:class:`SentenceEmbedder`, the
    ``[embed]`` extra), stacked with weights by :func:`stack_features`.

    A paper added after fitting is placed through its text and its ``references``. Free text (a
    search query) has no citations: :meth:`transform_text` maps it into the TF-IDF part only.
    Asked for citations while no paper carries any, it leaves them out (the block would be empty).
    """

    def __init__(
        self,
        *,
        citations: bool = False,
        embeddings: bool = False,
        citation_weight: float = 1.0,
        embedding_weight: float = 1.0,
        tfidf: dict[str, Any] | None = None,
        embedder: SentenceEmbedder | None = None,
    ) -> None:
        self.citations = citations
        self.embeddings = embeddings
        self.citation_weight = citation_weight
        self.embedding_weight = embedding_weight
        self.tfidf = dict(tfidf or {})
        # An embedder handed in without ``embeddings`` is not used: the feature set says what
        # the features are.
        self.embedder = (embedder or SentenceEmbedder()) if embeddings else None
        self.text_: TfidfFeaturizer | None = None
        self.citations_: CitationFeaturizer | None = None

    @classmethod
    def for_set(cls, features: FeatureSet | str, **kwargs: Any) -> PaperFeaturizer:
        """The featurizer of a feature set (a :class:`FeatureSet` or one of :data:`FEATURE_SETS`)."""
        fs = FeatureSet.parse(features)
        return cls(citations=fs.citations, embeddings=fs.embed, **kwargs)

    @property
    def feature_set(self) -> str:
        """The name of what this featurizer produces (after fitting: what it really uses)."""
        cites = self.citations if self.text_ is None else self.citations_ is not None
        return FeatureSet(citations=cites, embed=self.embeddings).name

    def fit(self, papers: Sequence[Paper]) -> Self:
        self.text_ = TfidfFeaturizer(**self.tfidf).fit([p.text for p in papers])
        self.citations_ = None
        if self.citations:
            if any(p.references for p in papers):
                self.citations_ = CitationFeaturizer().fit(papers)
            else:
                log.info("no paper carries citation links: content features are text only")
        return self

    def transform(self, papers: Sequence[Paper]) -> Features:
        if self.text_ is None:
            raise RuntimeError("PaperFeaturizer is not fitted: call fit() first")
        texts = [p.text for p in papers]
        parts: list[tuple[Features, float]] = [(self.text_.transform(texts), 1.0)]
        if self.embedder is not None:
            parts.append((self.embedder.transform(texts), self.embedding_weight))
        if self.citations_ is not None:
            parts.append((self.citations_.transform(papers), self.citation_weight))
        return parts[0][0] if len(parts) == 1 else stack_features(parts)

    def fit_transform(self, papers: Sequence[Paper]) -> Features:
        return self.fit(papers).transform(papers)

    def transform_text(self, texts: Sequence[str]) -> Features:
        """Free text (search queries) in the TF-IDF space of the fitted papers."""
        if self.text_ is None:
            raise RuntimeError("PaperFeaturizer is not fitted: call fit() first")
        return self.text_.transform(texts)

    # ------------------------------------------------------------ persistence
    def get_params(self) -> dict[str, Any]:
        return {
            "citations": self.citations,
            "embeddings": self.embeddings,
            "citation_weight": self.citation_weight,
            "embedding_weight": self.embedding_weight,
            "tfidf": self.tfidf,
        }

    def state(self) -> tuple[dict[str, Any], State]:
        """``(json_part, arrays)`` for :mod:`recommender.artifacts`; parts' arrays are prefixed
        ``text.`` and ``citations.``."""
        if self.text_ is None:
            raise RuntimeError("PaperFeaturizer is not fitted: call fit() first")
        text_json, text_arrays = self.text_.state()
        json_part: dict[str, Any] = {"text": text_json, "citations": None, "embedder": None}
        arrays: State = {f"text.{k}": v for k, v in text_arrays.items()}
        if self.citations_ is not None:
            cite_json, cite_arrays = self.citations_.state()
            json_part["citations"] = cite_json
            arrays.update({f"citations.{k}": v for k, v in cite_arrays.items()})
        if self.embedder is not None:
            emb_json, _ = self.embedder.state()
            json_part["embedder"] = {"params": self.embedder.get_params(), **emb_json}
        return json_part, arrays

    @classmethod
    def from_state(
        cls,
        params: dict[str, Any],
        json_part: dict[str, Any],
        arrays: State,
        *,
        embedding_cache: str | os.PathLike[str] | None = None,
    ) -> PaperFeaturizer:
        def part(prefix: str) -> State:
            return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

        embedder = None
        if json_part.get("embedder"):
            e = json_part["embedder"]
            embedder = SentenceEmbedder.from_state(e["params"], e, {})
            embedder.cache_dir = None if embedding_cache is None else Path(embedding_cache)
        f = cls(**params, embedder=embedder)
        f.text_ = TfidfFeaturizer.from_state(f.tfidf_params(), json_part["text"], part("text."))
        if json_part.get("citations") is not None:
            f.citations_ = CitationFeaturizer.from_state(
                {}, json_part["citations"], part("citations.")
            )
        return f

    def tfidf_params(self) -> dict[str, Any]:
        """The TF-IDF part's full settings (defaults filled in)."""
        return TfidfFeaturizer(**self.tfidf).get_params()

    @classmethod
    def of_text(cls, text: TfidfFeaturizer) -> PaperFeaturizer:
        """A text-only featurizer around a fitted :class:`TfidfFeaturizer` (older bundles)."""
        f = cls(tfidf=text.get_params())
        f.text_ = text
        return f


def stack_features(parts: Sequence[tuple[Features, float]]) -> Features:
    """One feature matrix from several blocks of the same papers with weights: each block is
    L2-normalised and scaled by sqrt(weight), so the cosine of two stacked rows is the
    weight-averaged cosine of the blocks. Sparse if any block is sparse."""
    parts = [(f, w) for f, w in parts if w > 0]
    if not parts:
        raise ValueError("stack_features needs at least one block with a positive weight")
    total = sum(w for _, w in parts)
    blocks = [np.sqrt(w / total) * normalize(f, norm="l2") for f, w in parts]
    if any(sp.issparse(b) for b in blocks):
        return sp.hstack([sp.csr_matrix(b) for b in blocks], format="csr", dtype=np.float32)
    return np.hstack(blocks).astype(np.float32)
