# gradsweep: `docker run IMAGE` serves the API (`gradsweep serve`);
# `docker run IMAGE worker [--concurrency N]` runs a Celery worker (set GRADSWEEP_REDIS_URL).

# ---- build: install the package and its dependencies into a virtualenv ----
FROM python:3.11-slim-bookworm AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY optimizers/ optimizers/
COPY workers/ workers/
COPY service/ service/
RUN pip install .

# ---- runtime ----
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH="/opt/venv/bin:$PATH" \
    GRADSWEEP_DATA_DIR=/data \
    GRADSWEEP_HOST=0.0.0.0 \
    GRADSWEEP_PORT=8000

RUN groupadd --system --gid 10001 gradsweep \
 && useradd --system --uid 10001 --gid gradsweep --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin gradsweep \
 && mkdir -p /data \
 && chown gradsweep:gradsweep /data

COPY --from=build /opt/venv /opt/venv
COPY examples/ /app/examples/

# The working directory is writable: `docker run IMAGE run /app/examples/adam-rosenbrock.json
# -o results.json` writes /data/results.json.
WORKDIR /data
USER 10001:10001

EXPOSE 8000

# Probes the API; a worker container has no API, so compose disables it there
# (`docker run --no-healthcheck IMAGE worker` does the same).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]

ENTRYPOINT ["gradsweep"]
CMD ["serve"]
