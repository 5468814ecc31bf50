"""The content profile's scores equal the sparse product."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def test_profile_scores_equal_the_sparse_product() -> None:
    """The dense-profile shortcut gives P @ V.T, sparse or dense, under or over its size limit."""
    from recommender.models import content

    rng = np.random.default_rng(0)
    V = sp.random(40, 30, density=0.2, format="csr", random_state=1, dtype=np.float32)
    P = sp.random(5, 30, density=0.3, format="csr", random_state=2, dtype=np.float32)
    want = (P @ V.T).toarray()
    got = content.profile_scores(P, V)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    Vd = rng.random((40, 30), dtype=np.float32)
    np.testing.assert_allclose(content.profile_scores(P, Vd), P @ Vd.T, rtol=1e-5)
    limit = content._DENSE_PROFILE_LIMIT
    try:
        content._DENSE_PROFILE_LIMIT = 10  # forces the sparse product
        np.testing.assert_allclose(content.profile_scores(P, V), want, rtol=1e-5, atol=1e-6)
    finally:
        content._DENSE_PROFILE_LIMIT = limit
