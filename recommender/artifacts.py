"""Model bundles: the only module that reads or writes model files.

A bundle is one ``.npz`` file (numpy's zip of arrays, read with ``allow_pickle=False``) holding the
model's learned arrays, the featurizer's arrays, and a JSON document with the metadata: bundle
format version, model name and hyperparameters, featurizer settings and vocabulary, paper ids (the
row mapping) and whatever the caller adds (training data summary, time). It is written to a
temporary file in the target directory, flushed to disk, then renamed over the target, so a reader
sees the old bundle or the new one, never half of one (:func:`recommender.io.files.write_atomic`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.embeddings import SentenceEmbedder
from recommender.features import PaperFeaturizer, TfidfFeaturizer
from recommender.io.files import OWNER_ONLY, write_atomic
from recommender.matrices import State
from recommender.models import create_model
from recommender.models.base import Recommender

__all__ = ["BUNDLE_FORMAT", "Bundle", "BundleError", "Featurizer", "load_bundle", "save_bundle"]

BUNDLE_FORMAT = 1
_META = "__meta__"
_SPARSE_PARTS = ("data", "indices", "indptr", "shape")


#: What a bundle's featurizer can be, by the ``kind`` its metadata records. SentenceEmbedder
#: imports no torch until it encodes, so reading a bundle stays light.
Featurizer = PaperFeaturizer | TfidfFeaturizer | SentenceEmbedder
_FEATURIZER_KINDS: dict[str, type[TfidfFeaturizer] | type[SentenceEmbedder]] = {
    "tfidf": TfidfFeaturizer,
    "embed": SentenceEmbedder,
}


def _featurizer_kind(f: Featurizer) -> str:
    if isinstance(f, PaperFeaturizer):
        return "paper"
    return "embed" if isinstance(f, SentenceEmbedder) else "tfidf"


class BundleError(ValueError):
    """A bundle file that cannot be read: missing, truncated, corrupted or of another format."""


@dataclass
class Bundle:
    """A fitted model with what it needs to serve: featurizer, paper id order and metadata."""

    model: Recommender
    paper_ids: list[str]
    featurizer: Featurizer | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", ""))


def _flatten(prefix: str, state: State, out: dict[str, np.ndarray], kinds: dict[str, str]) -> None:
    for name, arr in state.items():
        key = f"{prefix}{name}"
        if sp.issparse(arr):
            m = sp.csr_matrix(arr)
            kinds[key] = "csr"
            out[f"{key}.data"] = m.data
            out[f"{key}.indices"] = m.indices
            out[f"{key}.indptr"] = m.indptr
            out[f"{key}.shape"] = np.asarray(m.shape, dtype=np.int64)
        else:
            kinds[key] = "dense"
            out[key] = np.asarray(arr)


def _unflatten(prefix: str, kinds: dict[str, str], arrays: Any) -> State:
    state: State = {}
    for key, kind in kinds.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        if kind == "csr":
            d, i, p, s = (arrays[f"{key}.{part}"] for part in _SPARSE_PARTS)
            state[name] = sp.csr_matrix((d, i, p), shape=tuple(int(x) for x in s))
        else:
            state[name] = arrays[key]
    return state


def save_bundle(path: str | os.PathLike[str], bundle: Bundle) -> Path:
    """Write ``bundle`` to ``path`` atomically (temp file + fsync + rename). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    _flatten("model/", bundle.model.state(), arrays, kinds)
    featurizer_meta = None
    if bundle.featurizer is not None:
        json_part, f_arrays = bundle.featurizer.state()
        _flatten("featurizer/", f_arrays, arrays, kinds)
        featurizer_meta = {
            "kind": _featurizer_kind(bundle.featurizer),
            "params": bundle.featurizer.get_params(),
            **json_part,
        }
    meta = {
        "format": BUNDLE_FORMAT,
        "model": {"name": bundle.model.name, "params": bundle.model.get_params()},
        "featurizer": featurizer_meta,
        "paper_ids": list(bundle.paper_ids),
        "arrays": kinds,
        "saved_at": time.time(),
        **{k: v for k, v in bundle.metadata.items() if k not in {"format", "model", "arrays"}},
    }
    meta_bytes = json.dumps(meta).encode("utf-8")
    arrays[_META] = np.frombuffer(meta_bytes, dtype=np.uint8)

    # Owner only, as before: the bundle lies in the service's data folder beside the admin token,
    # and only the service's own processes read it.
    return write_atomic(
        path, lambda fh: np.savez(fh, allow_pickle=False, **arrays), mode=OWNER_ONLY
    )


def load_bundle(
    path: str | os.PathLike[str], *, embedding_cache: str | os.PathLike[str] | None = None
) -> Bundle:
    """Read a bundle written by :func:`save_bundle`; :class:`BundleError` if it is not one.

    ``embedding_cache``: where a featurizer with sentence embeddings keeps its on-disk cache."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: no model bundle there")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # zip, zlib, npy header: any way a damaged file fails
        raise BundleError(f"{path}: not a readable model bundle ({type(e).__name__}: {e})") from e
    if _META not in arrays:
        raise BundleError(f"{path}: model bundle has no metadata")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path}: model bundle metadata is corrupted ({e})") from e
    if not isinstance(meta, dict):
        raise BundleError(f"{path}: model bundle metadata is not a JSON object")
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{path}: bundle format {meta.get('format')!r}, this version reads {BUNDLE_FORMAT}"
        )
    # Everything below reads what the metadata says, which a damaged or hand-made file may get
    # wrong in any way (a key missing, a list where an object belongs, arrays that do not fit the
    # model): whatever fails, the answer is a BundleError, which the service answers with a
    # retrain, never an exception that stops it from starting.
    try:
        return _bundle_of(meta, arrays, embedding_cache)
    except BundleError as e:
        raise BundleError(f"{path}: {e}") from e
    except Exception as e:
        raise BundleError(
            f"{path}: model bundle is incomplete or inconsistent ({type(e).__name__}: {e})"
        ) from e


def _bundle_of(
    meta: dict[str, Any],
    arrays: dict[str, np.ndarray],
    embedding_cache: str | os.PathLike[str] | None,
) -> Bundle:
    kinds = meta.pop("arrays")
    if not isinstance(kinds, dict):
        raise TypeError("'arrays' is not an object")
    model = create_model(meta["model"]["name"], **meta["model"]["params"])
    model.load_state(_unflatten("model/", kinds, arrays))
    featurizer: Featurizer | None = None
    fmeta = meta.get("featurizer")
    if fmeta:
        kind = fmeta.get("kind", "tfidf")
        f_state = _unflatten("featurizer/", kinds, arrays)
        if kind == "paper":
            featurizer = PaperFeaturizer.from_state(
                fmeta["params"], fmeta, f_state, embedding_cache=embedding_cache
            )
        elif kind in _FEATURIZER_KINDS:
            featurizer = _FEATURIZER_KINDS[kind].from_state(fmeta["params"], fmeta, f_state)
        else:
            raise ValueError(f"unknown featurizer kind {kind!r}")
    paper_ids = meta.pop("paper_ids")
    if not isinstance(paper_ids, list) or not all(isinstance(p, str) for p in paper_ids):
        raise TypeError("'paper_ids' is not a list of strings")
    if len(paper_ids) != model.n_items:
        raise BundleError(
            f"bundle lists {len(paper_ids)} paper ids but the model has {model.n_items} papers"
        )
    meta.pop("featurizer", None)
    return Bundle(model=model, paper_ids=paper_ids, featurizer=featurizer, metadata=meta)
