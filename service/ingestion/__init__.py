"""The ingestion's process boundary: one upload, parsed in a sandboxed worker process,
becomes one batch in PostgreSQL, atomically.

    pipeline   the entry point `ingest`: worker, deadline, scratch directory, statistics
    copying    the transaction: COPY per chunk, read-ahead, amendments, watchdog, lost connections
    sandbox    the worker processes: start, spare worker, frames in, kill, pre-check fallback
    protocol   what crosses the pipe: the request, the frames, error kinds, their encoding
    child      the worker's side (`python -m service.ingestion.child`): parse, send frames

The worker runs inside this package, and Python imports this file before the worker's own
module: so it imports nothing itself, and the entry point (with the database driver, ~0.13 s
of imports the worker never needs) is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.ingestion.pipeline import ingest
    from service.ingestion.sandbox import SpareWorker

__all__ = ["SpareWorker", "ingest"]


def __getattr__(name: str) -> Any:
    if name == "ingest":
        from service.ingestion.pipeline import ingest

        return ingest
    if name == "SpareWorker":
        from service.ingestion.sandbox import SpareWorker

        return SpareWorker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
