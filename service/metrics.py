"""Prometheus metrics, served at `/metrics` in the text exposition format.

With several web processes (`serve --workers N`) each process counts for itself in files under
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode; `serve` makes that directory
when it is not set, and removes it at exit), and whichever process answers a scrape sums them
all. That variable must be set before `prometheus_client` is first imported in a process, so
`serve` sets it (`cli.metrics_directory`) before importing the app or this module, and the web
processes inherit it.

Labels carry no tenant data: routes are templates (`/projects/{project_id:uuid}`), never
paths with ids, and nothing names a user, a project or a file. So `/metrics` is public like
`/health`; keep it inside the network all the same (see README, "Deployment").
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
INGEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)

REQUESTS = Counter(
    "sheetflow_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "sheetflow_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
REQUEST_BYTES = Counter(
    "sheetflow_http_request_body_bytes",
    "Bytes of request bodies received (uploads are most of them), by method and route",
    ["method", "route"],
)
UPLOADS = Counter(
    "sheetflow_uploads",
    "Uploads by outcome: created, replayed (Idempotency-Key), refused (4xx), failed (5xx)",
    ["outcome"],
)
ROWS_INGESTED = Counter("sheetflow_rows_ingested", "Rows stored by uploads and `sheetflow ingest`")
INGEST_SECONDS = Histogram(
    "sheetflow_ingestion_duration_seconds",
    "Time to parse and store one upload that was stored",
    buckets=INGEST_BUCKETS,
)
WEB_WORKERS = Gauge("sheetflow_web_workers", "Web processes running", multiprocess_mode="livesum")
POOL_SIZE = Gauge(
    "sheetflow_db_pool_size",
    "Database connections held by the web processes' pools",
    multiprocess_mode="livesum",
)
POOL_IN_USE = Gauge(
    "sheetflow_db_pool_in_use",
    "Pooled connections in use (as of each process's latest request)",
    multiprocess_mode="livesum",
)
DATABASE_ERRORS = Counter(
    "sheetflow_database_errors",
    "Requests answered 503 because the database could not answer, by reason",
    ["reason"],
)

for _reason in ("unreachable", "timeout", "connection_lost"):
    DATABASE_ERRORS.labels(reason=_reason)  # shown at 0 until the first one
for _outcome in ("created", "replayed", "refused", "failed"):
    UPLOADS.labels(outcome=_outcome)


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROCESS_DIR))


def exposition() -> tuple[bytes, str]:
    """The body of a scrape and its content type: every process's figures in multiprocess
    mode, else this process's."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_started() -> None:
    WEB_WORKERS.set(1)


def process_stopping() -> None:
    """Take this process's live gauges out of the sums (a process that dies without this
    leaves its last values until the directory is emptied at the next start)."""
    WEB_WORKERS.set(0)
    POOL_SIZE.set(0)
    POOL_IN_USE.set(0)
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def observe_pool(pool: Any) -> None:
    """The pool's size and connections in use, now."""
    size = pool.get_size()
    POOL_SIZE.set(size)
    POOL_IN_USE.set(size - pool.get_idle_size())


def record_ingestion(rows: int, seconds: float) -> None:
    ROWS_INGESTED.inc(rows)
    INGEST_SECONDS.observe(seconds)


def record_database_error(reason: str) -> None:
    DATABASE_ERRORS.labels(reason=reason).inc()
