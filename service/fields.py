"""Fields of a batch: their statistics are computed once, right after the upload has committed,
in the background, so that the first `GET …/fields` finds them saved.

Counting the distinct values of every key is the one read whose cost grows with the whole
batch (seconds for 200,000 rows, about a minute for 1,000,000 x 25 on two cores: see
bench/README.md), too long for a request's statement timeout and too long to make the upload
wait for it. So it runs after the upload has been answered, with the ingestion's time limit
(`ingest_timeout_seconds`), under the batch's advisory lock (`store.fields.stats`): a request
that comes first, or while it runs, takes the same lock with the same limit, waits for it and
reads what it saved, or computes it itself if it comes before it (nothing is ever computed
twice). One computation at a time per pool, so that uploads in a row do not take every
pooled connection from the requests; a batch still waiting for its turn is computed by its
first request. Stopping the service cancels what is still running (a request computes it
later).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from uuid import UUID

from service.db import Pool
from service.entities import FieldStats
from service.settings import Settings
from service.store import fields

logger = logging.getLogger("sheetflow.fields")

_running: dict[asyncio.Task[None], Pool] = {}
_turns: weakref.WeakKeyDictionary[Pool, asyncio.Semaphore] = weakref.WeakKeyDictionary()


async def stats(pool: Pool, batch_id: UUID, settings: Settings) -> dict[str, FieldStats]:
    """Per key of the batch: present, empty and distinct counts over its live rows."""
    found = await fields.stats(pool, batch_id, seconds=settings.ingest_timeout_seconds)
    return {item.key: item for item in found}


def compute_soon(pool: Pool, batch_id: UUID, settings: Settings) -> None:
    """Compute and save the statistics of a batch just committed, once the caller has moved
    on (its upload answered)."""
    task = asyncio.get_running_loop().create_task(_compute(pool, batch_id, settings))
    _running[task] = pool
    task.add_done_callback(_forget)


async def settled(pool: Pool) -> None:
    """Wait until the computations started on `pool` are done."""
    await asyncio.gather(*(task for task, owner in list(_running.items()) if owner is pool))


async def stop(pool: Pool) -> None:
    """Cancel the computations started on `pool` (before it closes: they could take minutes),
    and wait until they are gone. A batch left without statistics gets them on request."""
    tasks = [task for task, owner in list(_running.items()) if owner is pool]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _forget(task: asyncio.Task[None]) -> None:
    _running.pop(task, None)


async def _compute(pool: Pool, batch_id: UUID, settings: Settings) -> None:
    turn = _turns.setdefault(pool, asyncio.Semaphore(1))
    try:
        async with turn:
            await fields.stats(pool, batch_id, seconds=settings.ingest_timeout_seconds)
    except Exception:  # a request computes them instead: log, never fail anything
        logger.warning("computing the field statistics of batch %s failed", batch_id, exc_info=True)
