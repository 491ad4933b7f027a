# syntax=docker/dockerfile:1
# sheetflow's container image: `docker run -p 8000:8000 IMAGE` serves on 0.0.0.0:$PORT with an
# embedded PostgreSQL kept in the volume /data; set DATABASE_URL to use a server of your own.
# `docker run IMAGE sheetflow migrate` is the release step (migrations as their own command).
# No secret is baked in: SHEETFLOW_JWT_SECRET / SHEETFLOW_JWKS_URL / DATABASE_URL come at run time.

FROM python:3.11-slim-bookworm AS build
# uv from PyPI (the only registry some builders reach); pinned for a reproducible build.
RUN python -m pip install --no-cache-dir --disable-pip-version-check "uv==0.13.9"
ENV UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    VIRTUAL_ENV=/app/.venv
WORKDIR /app
# Dependencies first, in a layer of their own: it is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY service ./service
COPY sql ./sql
COPY db ./db
RUN uv sync --locked --no-dev

FROM python:3.11-slim-bookworm AS runtime
# tini as PID 1: forwards SIGTERM to `sheetflow serve` and reaps the processes that end up
# under PID 1 (the embedded PostgreSQL that pg_ctl starts detached, parsing workers).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && useradd --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin sheetflow \
 && mkdir -p /data /run/sheetflow \
 && chown sheetflow:sheetflow /data /run/sheetflow \
 && chmod 0700 /run/sheetflow
WORKDIR /app
# Only the virtual environment and the code (the project is installed editable: db/migrations
# and sql/ are found beside service/).
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SHEETFLOW_HOST=0.0.0.0 \
    PORT=8000 \
    SHEETFLOW_DATA_DIR=/data \
    XDG_RUNTIME_DIR=/run/sheetflow
USER sheetflow
VOLUME /data
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["tini", "--"]
CMD ["sheetflow", "serve"]
