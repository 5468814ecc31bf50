import os

# One BLAS thread in every test process (see the developers' guide: threaded BLAS inside a server
# or a test run oversubscribes the cores).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
