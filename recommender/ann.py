"""Top-k by inner product over paper vectors: exact (numpy) or approximate (faiss HNSW or IVF).

Models that score a user as ``q(user) · v(paper)`` say so through the contract
(:meth:`~recommender.models.base.Recommender.query_vectors` and
:meth:`~recommender.models.base.Recommender.index_vectors`): the content profile on dense features
(LSA, embeddings) and the factor models (ALS, BPR, LightFM, whose item bias travels as one more
coordinate). :class:`~recommender.models.indexed.IndexedModel` wraps such a model and ranks for it
through a :class:`VectorIndex` instead of scoring every paper, which is what a catalog of a
million papers needs: exact scoring reads the whole ``papers x dims`` matrix for every request.

The hybrid does not score by vectors (its scores are sums over sparse neighbour lists), so it is
served exactly; at scale what it needs an index for is fitting, where every paper's top-k content
neighbours are computed: :func:`topk_neighbors` does that through an index in ``O(n log n)``
instead of the ``O(n²)`` of :func:`recommender.similarity.topk_cosine`.

faiss is imported only when an approximate index is built.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from recommender.ranking import top_k

__all__ = ["Method", "VectorIndex", "topk_neighbors"]

log = logging.getLogger(__name__)

Method = Literal["exact", "hnsw", "ivf"]

#: Entries of one block of exact scores (``queries x papers`` float32: 64 MiB).
_BLOCK_ENTRIES = 1 << 24


class VectorIndex:
    """The ``k`` papers of largest inner product with a query vector.

    ``method``: ``"exact"`` (numpy, blocked matrix products: the reference), ``"ivf"`` (faiss
    ``IndexIVFFlat``: k-means cells, of which ``nprobe`` are scanned exactly) or ``"hnsw"`` (faiss
    ``IndexHNSWFlat``: greedy graph search, no training). Inner product is the metric throughout,
    so L2-normalised vectors give cosine. On a million clustered 64-d vectors (bench/scale.py) IVF
    with 256 of 4,000 cells found the exact top-100 in about 2 ms and built in a minute, while
    HNSW took three minutes to build and missed some queries' neighbourhoods entirely (greedy
    search trapped in the wrong cluster), hence IVF by default.

    ``hnsw_m``, ``ef_construction`` and ``ef_search`` are HNSW's graph degree, build beam and
    search beam; ``nlist`` (default ``4 sqrt(n)``) and ``nprobe`` the IVF cells and cells visited.
    ``threads`` bounds faiss's OpenMP threads while building (searching uses one, like the rest of
    the service).
    """

    def __init__(
        self,
        method: Method = "ivf",
        *,
        hnsw_m: int = 32,
        ef_construction: int = 64,
        ef_search: int = 256,
        nlist: int | None = None,
        nprobe: int = 256,
        threads: int = 1,
        seed: int = 0,
    ) -> None:
        if method not in ("exact", "hnsw", "ivf"):
            raise ValueError(f"unknown index method {method!r}: exact, hnsw or ivf")
        self.method: Method = method
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.nlist = nlist
        self.nprobe = nprobe
        self.threads = threads
        self.seed = seed
        self._vectors = np.empty((0, 0), dtype=np.float32)
        self._faiss: Any = None

    def __len__(self) -> int:
        return int(self._vectors.shape[0])

    def __repr__(self) -> str:
        return f"VectorIndex({self.method!r}, papers={len(self)})"

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    def build(self, vectors: np.ndarray) -> VectorIndex:
        """Index ``vectors`` (``papers x dims``, row = paper row); returns ``self``."""
        V = np.ascontiguousarray(vectors, dtype=np.float32)
        if V.ndim != 2:
            raise ValueError(f"vectors must be 2-d, got shape {V.shape}")
        self._vectors = V
        self._faiss = None
        if self.method == "exact" or V.shape[0] == 0:
            return self
        import faiss

        n, d = V.shape
        previous = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(max(1, self.threads))
        try:
            index: Any
            if self.method == "hnsw":
                index = faiss.IndexHNSWFlat(d, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = self.ef_construction
                index.hnsw.efSearch = self.ef_search
                index.add(V)
            else:
                nlist = self.nlist or max(1, min(n // 39, int(4 * np.sqrt(n))))
                quantizer = faiss.IndexFlatIP(d)
                index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
                # k-means on a sample: 64 points per cell is what faiss asks for.
                rng = np.random.default_rng(self.seed)
                sample = V[rng.choice(n, min(n, nlist * 64), replace=False)]
                index.cp.seed = self.seed
                index.train(sample)
                index.add(V)
                index.nprobe = min(self.nprobe, nlist)
        finally:
            faiss.omp_set_num_threads(previous)
        self._faiss = index
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, scores)`` of shape ``(queries, k)``, best first, padded with -1 / -inf."""
        Q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n_q, n = Q.shape[0], len(self)
        rows = np.full((n_q, k), -1, dtype=np.int64)
        scores = np.full((n_q, k), -np.inf, dtype=np.float32)
        if n == 0 or k <= 0 or n_q == 0:
            return rows, scores
        if Q.shape[1] != self.dim:
            raise ValueError(f"queries have {Q.shape[1]} dims, the index {self.dim}")
        if self._faiss is None:
            return self._exact(Q, k, rows, scores)
        D, indices = self._faiss.search(Q, k)
        found = indices >= 0
        rows[found] = indices[found]
        scores[found] = D[found]
        return rows, scores

    def _exact(
        self, Q: np.ndarray, k: int, rows: np.ndarray, scores: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        n = len(self)
        step = max(1, _BLOCK_ENTRIES // n)
        for start in range(0, Q.shape[0], step):
            S = Q[start : start + step] @ self._vectors.T
            for j, s in enumerate(S):
                r, v = top_k(s, k)
                rows[start + j, : r.size] = r
                scores[start + j, : r.size] = v
        return rows, scores


def topk_neighbors(
    V: np.ndarray, k: int, index: VectorIndex | None = None, *, batch: int = 4096
) -> sp.csr_matrix:
    """Sparse ``n x n`` matrix of each paper's ``k`` nearest other papers by inner product
    (positive values only; never itself), found through ``index`` (default: HNSW).

    The index-backed counterpart of :func:`recommender.similarity.topk_cosine` for dense
    L2-normalised vectors, for catalogs where the ``O(n²)`` exact pass is too slow.
    """
    V = np.ascontiguousarray(V, dtype=np.float32)
    n = V.shape[0]
    index = (index or VectorIndex("hnsw")).build(V)
    rows_l, cols_l, vals_l = [], [], []
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        r, s = index.search(V[start:stop], k + 1)
        own = np.arange(start, stop)[:, None]
        keep = (r >= 0) & (r != own) & (s > 0)
        # At most k per row: the search asked for one more to make room for the paper itself.
        keep &= np.cumsum(keep, axis=1) <= k
        rows_l.append(np.broadcast_to(own, r.shape)[keep])
        cols_l.append(r[keep])
        vals_l.append(s[keep])
    if not rows_l:
        return sp.csr_matrix((n, n), dtype=np.float32)
    m = sp.csr_matrix(
        (np.concatenate(vals_l), (np.concatenate(rows_l), np.concatenate(cols_l))),
        shape=(n, n),
        dtype=np.float32,
    )
    m.sort_indices()
    return m
