# paperrec API and retrain worker. Build: docker build -t paperrec .
# Run with docker-compose.yml (Redis 7 with append-only persistence, the API, a retrain worker).

# --- build: wheels of the project and its dependencies (some need a compiler) ---------------
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY recommender ./recommender
COPY service ./service
COPY experiments ./experiments
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime --------------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    PAPERREC_DATA_DIR=/data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels paperrec \
 && rm -rf /wheels \
 && useradd --create-home --uid 10001 paperrec \
 && mkdir -p /data \
 && chown paperrec /data
USER paperrec
WORKDIR /home/paperrec
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=5 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"]
CMD ["paperrec", "serve", "--host", "0.0.0.0", "--port", "8000"]
