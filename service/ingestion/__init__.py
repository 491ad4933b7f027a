"""The ingestion's process boundary: one upload, parsed in a sandboxed worker process,
becomes one batch in PostgreSQL, atomically.

    pipeline   the entry point `ingest`, the worker processes, the transaction and its COPY

The worker runs inside this package, and Python imports this file before the worker's own
module: so it imports nothing itself, and the entry point (with the database driver, ~0.13 s
of imports the worker never needs) is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.ingestion.pipeline import SpareWorker, ingest

__all__ = ["SpareWorker", "ingest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from service.ingestion import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
