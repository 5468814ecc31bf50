"""TF-IDF features against values worked out from the formula: smoothed idf
``ln((1 + n) / (1 + df)) + 1``, sublinear tf ``1 + ln(count)``, rows L2-normalised."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.artifacts import Bundle, load_bundle, save_bundle
from recommender.catalog import Paper
from recommender.embeddings import SentenceEmbedder
from recommender.features import (
    FEATURE_SETS,
    FEATURE_WEIGHTS,
    CitationFeaturizer,
    FeatureSet,
    PaperFeaturizer,
    TfidfFeaturizer,
    stack_features,
)
from recommender.matrices import dense
from recommender.models import create_model

DOCS = ["apple banana", "apple cherry", "banana cherry durian"]  # vocabulary: a, b, c, d


def idf(n: int, df: int) -> float:
    return math.log((1 + n) / (1 + df)) + 1


def unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def test_fit_learns_vocabulary_and_idf() -> None:
    f = TfidfFeaturizer(min_df=1, max_df=1.0).fit(DOCS)
    assert f.vocabulary == ["apple", "banana", "cherry", "durian"]
    assert f.idf is not None
    np.testing.assert_allclose(f.idf, [idf(3, 2), idf(3, 2), idf(3, 2), idf(3, 1)], rtol=1e-6)


def test_transform_new_text_uses_fitted_vocabulary_without_refit() -> None:
    f = TfidfFeaturizer(min_df=1, max_df=1.0).fit(DOCS)
    assert f.idf is not None
    vocab, idf_before = list(f.vocabulary), f.idf.copy()
    # "kiwi" is new: ignored, not added; "apple" twice: sublinear tf 1 + ln 2.
    X = f.transform(["durian apple apple kiwi", "kiwi mango"])
    assert isinstance(X, sp.csr_matrix) and X.shape == (2, 4) and X.dtype == np.float32
    expected = unit([(1 + math.log(2)) * idf(3, 2), 0, 0, idf(3, 1)])
    np.testing.assert_allclose(X.toarray()[0], expected, rtol=1e-6)
    assert X[1].nnz == 0  # only unknown words: an empty row
    assert f.vocabulary == vocab
    np.testing.assert_array_equal(f.idf, idf_before)


def test_transform_before_fit_raises() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        TfidfFeaturizer().transform(["text"])


def test_fit_counts_and_transform_counts() -> None:
    vocab = ["protein", "folding", "energy"]
    counts = sp.csr_matrix(np.array([[1, 0, 2], [0, 3, 0], [1, 1, 0]], dtype=np.float32))
    f = TfidfFeaturizer().fit_counts(counts, vocab)
    assert f.from_counts and f.vocabulary == vocab
    assert f.idf is not None
    np.testing.assert_allclose(f.idf, [idf(3, 2), idf(3, 2), idf(3, 1)], rtol=1e-6)
    X = sp.csr_matrix(f.transform_counts(counts))
    expected0 = unit([1 * idf(3, 2), 0, (1 + math.log(2)) * idf(3, 1)])
    np.testing.assert_allclose(X.toarray()[0], expected0, rtol=1e-6)
    # Text after fitting on counts: the fitted words are counted in it, the rest ignored.
    T = sp.csr_matrix(f.transform(["energy protein energy unrelated"]))
    np.testing.assert_allclose(T.toarray()[0], expected0, rtol=1e-6)
    with pytest.raises(ValueError, match="columns"):
        f.transform_counts(sp.csr_matrix((1, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="vocabulary"):
        TfidfFeaturizer().fit_counts(counts, vocab[:2])


TOPIC_DOCS = [
    "protein folding energy landscape protein",
    "protein structure folding kinetics",
    "energy landscape of protein folding",
    "galaxy cluster dark matter survey",
    "dark matter halo galaxy formation",
    "survey of galaxy cluster lensing",
]


def test_lsa_gives_dense_normalised_rows() -> None:
    f = TfidfFeaturizer(min_df=1, max_df=1.0, lsa_components=2).fit(TOPIC_DOCS)
    Z = f.transform(TOPIC_DOCS)
    assert isinstance(Z, np.ndarray) and Z.dtype == np.float32 and Z.shape == (6, 2)
    assert f.dim == 2
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    sims = Z @ Z.T
    # Two topics, two dimensions: papers of one topic point the same way, the others elsewhere.
    assert sims[0, 1] > 0.9 and sims[3, 4] > 0.9
    assert sims[0, 3] < 0.5
    new = f.transform(["folding of a protein"])
    assert new.shape == (1, 2)
    assert float((new @ Z[0])[0]) > float((new @ Z[3])[0])


def test_state_round_trip_gives_same_features() -> None:
    for f in (
        TfidfFeaturizer(min_df=1, max_df=1.0).fit(TOPIC_DOCS),
        TfidfFeaturizer(min_df=1, max_df=1.0, lsa_components=2).fit(TOPIC_DOCS),
    ):
        json_part, arrays = f.state()
        g = TfidfFeaturizer.from_state(f.get_params(), json_part, arrays)
        a, b = f.transform(["galaxy protein"]), g.transform(["galaxy protein"])
        assert type(a) is type(b)
        np.testing.assert_array_equal(dense(a), dense(b))


# ----------------------------------------------------------------------------- citations
def cited(pid: str, *refs: str) -> Paper:
    return Paper(pid, f"Paper {pid}", references=refs)


CITED = [cited("a", "c"), cited("b", "c"), cited("c"), cited("d", "e"), cited("e"), cited("f", "x")]


def test_citation_features_make_co_citing_papers_alike() -> None:
    f = CitationFeaturizer().fit(CITED)
    X = dense(f.transform(CITED))
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-6)
    sims = X @ X.T
    # a and b both cite c: alike; a and d share nothing; links count in both directions (c-a).
    assert sims[0, 1] > 0.3 and sims[0, 3] == 0 and sims[0, 2] > 0
    # "x" is not in the catalog: f's only link is ignored, it is itself alone.
    assert np.count_nonzero(X[5]) == 1


def test_citation_features_place_a_new_paper_by_its_references() -> None:
    f = CitationFeaturizer().fit(CITED)
    X = dense(f.transform(CITED))
    new = dense(f.transform([cited("g", "c", "a")]))[0]
    assert np.argmax(X @ new) in (0, 2)  # a or c, never the d-e cluster
    assert float(X[3] @ new) == 0.0
    with pytest.raises(RuntimeError, match="not fitted"):
        CitationFeaturizer().transform(CITED)


def test_stack_features_averages_block_cosines_by_weight() -> None:
    A = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0]]))  # cosine 1 in block A
    B = np.array([[1.0, 0.0], [0.0, 1.0]])  # cosine 0 in block B
    S = stack_features([(A, 3.0), (B, 1.0)])
    assert sp.issparse(S)
    Sd = dense(S)
    assert float(Sd[0] @ Sd[1]) == pytest.approx(0.75)
    np.testing.assert_allclose(np.linalg.norm(Sd, axis=1), 1.0, rtol=1e-6)
    assert isinstance(stack_features([(B, 1.0), (B, 0.0)]), np.ndarray)
    with pytest.raises(ValueError):
        stack_features([(B, 0.0)])


# ------------------------------------------------------------------ PaperFeaturizer
TOPICS = [
    Paper("q1", "Quantum error correction codes", references=("q2",)),
    Paper("q2", "Surface codes for qubits"),
    Paper("q3", "Qubit decoherence in superconducting circuits", references=("q2",)),
    Paper("b1", "Protein folding with attention", references=("b2",)),
    Paper("b2", "Amino acid contact maps"),
    Paper("b3", "Protein structure from sequence", references=("b2",)),
]


def test_paper_featurizer_text_only_is_tfidf_of_title_and_abstract() -> None:
    f = PaperFeaturizer(tfidf={"min_df": 1}).fit(TOPICS)
    expect = TfidfFeaturizer(min_df=1).fit([p.text for p in TOPICS])
    np.testing.assert_allclose(
        dense(f.transform(TOPICS)), dense(expect.transform([p.text for p in TOPICS])), rtol=1e-6
    )
    assert f.feature_set == "text"


def test_paper_featurizer_places_a_new_paper_by_its_citations() -> None:
    f = PaperFeaturizer.for_set("text+citations", tfidf={"min_df": 1}).fit(TOPICS)
    assert f.feature_set == "text+citations"
    X = dense(f.transform(TOPICS))
    # No word in common with either topic: only its references tell where it belongs.
    new = dense(f.transform([Paper("n", "A survey", references=("b2", "b1"))]))[0]
    sims = X @ new
    assert set(np.argsort(-sims)[:3]) == {3, 4, 5}
    assert np.all(sims[:3] == 0)
    # Free text (a search) goes to the TF-IDF part only.
    assert f.transform_text(["protein"]).shape[1] == len(f.text_.vocabulary)  # type: ignore[union-attr]


def test_paper_featurizer_leaves_citations_out_when_no_paper_has_any() -> None:
    papers = [Paper(p.paper_id, p.title) for p in TOPICS]
    f = PaperFeaturizer.for_set("text+citations", tfidf={"min_df": 1}).fit(papers)
    assert f.citations_ is None and f.feature_set == "text"
    with pytest.raises(ValueError, match="unknown feature set"):
        PaperFeaturizer.for_set("words")


def test_feature_sets_parse_from_their_names_and_nothing_else() -> None:
    assert FEATURE_SETS == ("text", "text+citations", "text+embed", "text+embed+citations")
    flags = [(False, False), (True, False), (False, True), (True, True)]  # (citations, embed)
    for name, (citations, embed) in zip(FEATURE_SETS, flags, strict=True):
        fs = FeatureSet.parse(name)
        assert (fs.citations, fs.embed) == (citations, embed)
        assert str(fs) == fs.name == name and FeatureSet.parse(fs) is fs
    for bad in ("words", "citations+text", "text+citations ", "", "TEXT"):
        with pytest.raises(ValueError, match="known: text, text[+]citations, text[+]embed, "):
            FeatureSet.parse(bad)


def test_a_feature_set_knows_its_blocks_and_drops_citations_without_references() -> None:
    full = FeatureSet.parse("text+embed+citations")
    assert full.blocks == ("text", "embed", "citations")
    assert set(full.blocks) - {"text"} == set(FEATURE_WEIGHTS.values())
    assert str(full.without_citations()) == "text+embed"
    assert str(full.for_catalog(has_references=False)) == "text+embed"
    assert full.for_catalog(has_references=True) is full
    assert FeatureSet().blocks == ("text",) and str(FeatureSet().without_citations()) == "text"
    # Given a FeatureSet instead of its name, the featurizer is the same.
    typed = PaperFeaturizer.for_set(FeatureSet(citations=True))
    assert typed.get_params() == PaperFeaturizer.for_set("text+citations").get_params()


def _fake_encode(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in encoder (no torch): letter counts, L2-normalised."""
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for i, t in enumerate(texts):
        for ch in t.lower():
            out[i, ord(ch) % 384] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_paper_featurizer_round_trips_through_a_bundle(tmp_path) -> None:
    embedder = SentenceEmbedder(encode_fn=_fake_encode, model_name="fake")
    f = PaperFeaturizer.for_set(
        "text+embed+citations", tfidf={"min_df": 1}, embedder=embedder, citation_weight=2.0
    ).fit(TOPICS)
    X = f.transform(TOPICS)
    assert X.shape[1] == len(f.text_.vocabulary) + 384 + len(TOPICS)  # type: ignore[union-attr]
    model = create_model("content").fit(sp.identity(len(TOPICS), format="csr"), X)
    path = save_bundle(tmp_path / "b.npz", Bundle(model, [p.paper_id for p in TOPICS], f))
    loaded = load_bundle(path, embedding_cache=tmp_path / "cache")
    g = loaded.featurizer
    assert isinstance(g, PaperFeaturizer) and g.feature_set == "text+embed+citations"
    assert g.citation_weight == 2.0 and g.embedder is not None
    assert g.embedder.model_name == "fake" and g.embedder.cache_dir == tmp_path / "cache"
    # The loaded embedder would load the real model; give it the same stand-in to compare.
    g.embedder.encode_fn = _fake_encode
    np.testing.assert_allclose(dense(g.transform(TOPICS)), dense(X), rtol=1e-6)


def test_an_embedder_is_used_only_when_the_feature_set_has_embeddings() -> None:
    embedder = SentenceEmbedder(encode_fn=_fake_encode, model_name="fake")
    f = PaperFeaturizer.for_set("text+citations", tfidf={"min_df": 1}, embedder=embedder)
    X = f.fit(TOPICS).transform(TOPICS)
    assert f.embedder is None and embedder.n_encoded == 0
    assert X.shape[1] == len(f.text_.vocabulary) + len(TOPICS)  # type: ignore[union-attr]


def test_a_refit_featurizer_transforms_in_its_new_space() -> None:
    """The transform's vectorizer and the citation links are built once per fit and kept: a
    second fit must replace them, not leave the first fit's in use."""
    first, second = TOPICS[:3], TOPICS[3:]
    text = TfidfFeaturizer(min_df=1).fit([p.text for p in first])
    text.transform(["qubit codes"])  # builds and keeps the first fit's vectorizer
    text.fit([p.text for p in second])
    fresh = TfidfFeaturizer(min_df=1).fit([p.text for p in second])
    np.testing.assert_array_equal(
        dense(text.transform(["protein structure"])), dense(fresh.transform(["protein structure"]))
    )
    cites = CitationFeaturizer().fit(TOPICS)
    cites.transform(TOPICS)
    cites.fit(TOPICS[1:])  # q1 gone: q2 keeps the link from q3 alone
    np.testing.assert_array_equal(
        dense(cites.transform(TOPICS[1:])),
        dense(CitationFeaturizer().fit(TOPICS[1:]).transform(TOPICS[1:])),
    )
