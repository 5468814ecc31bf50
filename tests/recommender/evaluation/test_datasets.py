"""Experiment feature sets: unknown sets refused, embeddings only of text, block weights stacked
as the service stacks them, an unavailable embedding set reported as such."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def test_unknown_feature_set_is_refused() -> None:
    from recommender.evaluation.datasets import content_features

    with pytest.raises(ValueError, match="unknown feature set 'tags'"):
        content_features(object(), "tags")


def test_embeddings_need_text_not_word_counts() -> None:
    """citeulike-t publishes word counts only: asking to embed its text is refused clearly."""
    import scipy.sparse as sp

    from recommender.catalog import Catalog, Paper
    from recommender.datasets.citeulike import CiteULike
    from recommender.evaluation.datasets import content_features

    ds = CiteULike(
        name="tiny-t",
        catalog=Catalog([Paper("0", "a"), Paper("1", "b")]),
        likes=sp.csr_matrix((1, 2)),
        tags=[[], []],
        counts=sp.csr_matrix(np.eye(2, dtype=np.float32)),
        vocabulary=["w0", "w1"],
    )
    with pytest.raises(ValueError, match="word counts, not text"):
        content_features(ds, "text+embed")


def test_feature_weights_restack_the_blocks_as_the_service_does() -> None:
    """Tuned block weights give the matrix PaperFeaturizer builds with the same weights: the
    experiments and the service stack features one way."""
    import scipy.sparse as sp

    from recommender.catalog import Catalog, Paper
    from recommender.datasets.citeulike import CiteULike
    from recommender.evaluation.datasets import content_features, feature_blocks, stack_blocks
    from recommender.features import PaperFeaturizer

    papers = [
        Paper("0", "graph neural networks", references=("1",)),
        Paper("1", "graph kernels for molecules"),
        Paper("2", "neural machine translation", references=("0", "1")),
    ]
    ds = CiteULike(
        name="tiny-a",
        catalog=Catalog(papers),
        likes=sp.csr_matrix((1, 3)),
        tags=[[], [], []],
    )
    blocks = feature_blocks(ds, "text+citations")
    assert list(blocks) == ["text", "citations"]
    ours = content_features(ds, "text+citations", {"citation_weight": 3.0})
    served = PaperFeaturizer.for_set("text+citations", citation_weight=3.0).fit_transform(papers)
    np.testing.assert_allclose(sp.csr_matrix(ours).toarray(), sp.csr_matrix(served).toarray())
    # The weight moves the stack: cosine of papers 0 and 1 (they share one citation link and
    # one word) changes with the citation block's share.
    heavy = sp.csr_matrix(stack_blocks(blocks, {"citation_weight": 8.0})).toarray()
    light = sp.csr_matrix(stack_blocks(blocks, {"citation_weight": 0.5})).toarray()
    assert heavy[0] @ heavy[1] != pytest.approx(light[0] @ light[1])
    with pytest.raises(ValueError, match="unknown feature weight"):
        stack_blocks(blocks, {"tag_weight": 1.0})


def test_embeddings_without_the_extra_are_an_unavailable_feature_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without the [embed] extra (and vectors not cached), the embedding feature set is reported
    unavailable, which `compare --all` skips with its message instead of stopping."""
    import scipy.sparse as sp

    from recommender import embeddings
    from recommender.catalog import Catalog, Paper
    from recommender.datasets.citeulike import CiteULike
    from recommender.evaluation import datasets

    def missing(device: object) -> object:
        raise ImportError(embeddings._INSTALL_HINT)

    monkeypatch.setattr(embeddings, "_load_model", missing)
    ds = CiteULike(
        name="tiny-a",
        catalog=Catalog([Paper("0", "graph networks"), Paper("1", "protein folding")]),
        likes=sp.csr_matrix((1, 2)),
        tags=[[], []],
    )
    with pytest.raises(datasets.FeatureSetUnavailable, match=r"pip install 'paperrec\[embed\]'"):
        datasets.feature_blocks(ds, "text+embed+citations", embed_cache=tmp_path / "empty-cache")
