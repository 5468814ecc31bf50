import os

# One BLAS thread in every test process (see the developers' guide: threaded BLAS inside a server
# or a test run oversubscribes the cores).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Service test fixtures (real Redis, app factory): defined in service_conftest.py.
from service_conftest import client, make_settings, redis_server, redis_url  # noqa: E402, F401
