"""Delivery state of a completed batch's rows: claims (leases in source order, each row to one
caller) and reports, with the batch's counts kept in the same transaction (`service.delivery`
has the rules and the transactions)."""

from __future__ import annotations

import random
from uuid import UUID

import msgspec

from service import queries
from service.db import Executor
from service.entities import BatchStatus, DeliveryStatus, Row


class BatchTurn(msgspec.Struct, frozen=True, kw_only=True):
    """A batch locked for a claim: its status and its cursor (rows from there on were never
    claimed)."""

    status: BatchStatus
    delivery_cursor: int


class RowTurn(msgspec.Struct, frozen=True, kw_only=True):
    """A row locked for a report: its delivery state and its batch's status."""

    delivery_status: DeliveryStatus
    delivery_attempts: int
    delivery_message: str | None
    delivery_step: str | None
    batch_status: BatchStatus


async def lock_batch(
    db: Executor, owner_id: UUID, project_id: UUID, batch_id: UUID
) -> BatchTurn | None:
    """Lock the batch for a claim, until the transaction ends; None unless it is a live batch
    of a live project of `owner_id`."""
    return await queries.one(
        db, "lock_batch_for_delivery", batch_id, project_id, owner_id, into=BatchTurn
    )


async def claim(
    db: Executor,
    batch_id: UUID,
    *,
    actor_id: UUID,
    limit: int,
    lease_seconds: int,
    cursor: int,
    max_bytes: int,
) -> list[Row]:
    """Lease up to `limit` claimable rows for `lease_seconds`, in source order, stopping before
    the row whose data would take them past `max_bytes` (one row always comes), with an event
    of `actor_id` for each (run it after `lock_batch`, in its transaction, with the cursor it
    returned)."""
    return await queries.many(
        db,
        "claim_rows",
        batch_id,
        limit,
        lease_seconds,
        cursor,
        actor_id,
        _slot(),
        max_bytes,
        into=Row,
    )


async def lock_row(db: Executor, batch_id: UUID, row_id: UUID) -> RowTurn | None:
    """Lock a live row of a live batch for a report, until the transaction ends."""
    return await queries.one(db, "lock_row_delivery", row_id, batch_id, into=RowTurn)


async def report(
    db: Executor,
    row_id: UUID,
    status: DeliveryStatus,
    *,
    message: str | msgspec.UnsetType | None = msgspec.UNSET,
    step: str | msgspec.UnsetType | None = msgspec.UNSET,
) -> Row:
    """Record the row's outcome (`message` and `step` left `UNSET` stay as they were)."""
    row = await queries.one(
        db,
        "report_delivery",
        row_id,
        status,
        message is not msgspec.UNSET,
        None if message is msgspec.UNSET else message,
        step is not msgspec.UNSET,
        None if step is msgspec.UNSET else step,
        into=Row,
    )
    assert row is not None  # locked by `lock_row` in this transaction
    return row


async def count_change(
    db: Executor, batch_id: UUID, *, in_progress: int, done: int, error: int
) -> None:
    """Add these to the batch's counts of rows in each state (pending is what is left)."""
    await queries.execute(db, "count_delivery_change", batch_id, _slot(), in_progress, done, error)


COUNT_SLOTS = 16
"""How many rows hold one batch's delivery counts (ck_ingestion_batch_delivery_counts_slot):
each change adds to one of them, at random, so that concurrent ones seldom wait for each
other; a read sums them."""


def _slot() -> int:
    return random.randrange(COUNT_SLOTS)
