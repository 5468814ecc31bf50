import os

# One BLAS thread in every test process (see the developers' guide: threaded BLAS inside a server
# or a test run oversubscribes the cores). Set before anything imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

# Service test fixtures (real Redis, app factory): defined in service_conftest.py.
from service_conftest import client, make_settings, redis_server, redis_url  # noqa: E402, F401

from recommender.features import TfidfFeaturizer  # noqa: E402
from recommender.synthetic import BlockData, block_dataset  # noqa: E402


# ------------------------------------------------ the known-answer data of the model tests
@pytest.fixture(scope="module")
def data() -> BlockData:
    """Users who like papers of their own topic only (see recommender.synthetic)."""
    return block_dataset(seed=0)


@pytest.fixture(scope="module")
def featurizer(data: BlockData) -> TfidfFeaturizer:
    return TfidfFeaturizer(min_df=1).fit_counts(data.counts, data.vocabulary)


@pytest.fixture(scope="module")
def features(data: BlockData, featurizer: TfidfFeaturizer):
    return featurizer.transform_counts(data.counts)
