"""Delivery: handing a completed batch's rows to the automations that consume them, one row
to one consumer at a time, and recording what became of each.

    pending ──claim──▶ in_progress ──report──▶ done (final)
       ▲                 │   │  └─lease runs out: claimable again (still in_progress)
       └──── report ─────┘   └──report──▶ error ──report──▶ pending (a retry)

A claim leases up to `limit` rows in source order for `lease_seconds` (`FOR UPDATE SKIP
LOCKED`: concurrent consumers never get the same row, and none waits for another's rows); a
consumer reports `done`, `error` or `pending` (giving the row back) for a row in progress,
even after its lease ran out; with the `attempt` its claim handed out, a report is refused
once the row has been claimed again (a consumer that was only slow is fenced off). `done` is final;
`error` may go back to `pending`, to be claimed again. Only a completed batch's rows have a
delivery state (409 otherwise). Claims of one batch take turns on the batch's row (one
short statement each), which keeps its cursor exact; reports lock only their row, and add to
one of the batch's 16 count slots (`ingestion_batch_delivery_counts`), so that they seldom
wait for one another. Every claim and report appends an event per row it changes
(`row.delivery_claimed`, `row.delivery_reported`), in its transaction.
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from service import ownership
from service.db import Pool, transaction
from service.entities import BatchStatus, DeliveryStatus, EventKind, Row
from service.errors import InvalidTransition, NotFound
from service.store import deliveries, events

ALLOWED: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.IN_PROGRESS: frozenset(
        {DeliveryStatus.DONE, DeliveryStatus.ERROR, DeliveryStatus.PENDING}
    ),
    DeliveryStatus.ERROR: frozenset({DeliveryStatus.PENDING}),
}
"""The reports each state accepts; `pending` becomes `in_progress` by a claim only, and
`done` accepts nothing."""

COUNTED = (DeliveryStatus.IN_PROGRESS, DeliveryStatus.DONE, DeliveryStatus.ERROR)
"""The states the batch counts (pending is the rest of its live rows)."""


def _not_completed(batch_id: UUID, status: BatchStatus) -> InvalidTransition:
    return InvalidTransition(
        f"batch {batch_id} is {status}: only the rows of a completed batch are delivered"
    )


async def claim(
    pool: Pool,
    owner_id: UUID,
    project_id: UUID,
    batch_id: UUID,
    *,
    limit: int,
    lease_seconds: int,
    max_bytes: int,
) -> list[Row]:
    """Lease up to `limit` rows of the batch to the caller, first pending rows and rows whose
    lease ran out, in source order; fewer (or none) when fewer are claimable, or when their
    data would pass `max_bytes` of JSON (one row always comes; the rows left out stay as they
    were)."""
    async with transaction(pool) as conn:
        turn = await deliveries.lock_batch(conn, owner_id, project_id, batch_id)
        if turn is None:
            raise ownership.missing_batch(project_id, batch_id)
        if turn.status is not BatchStatus.COMPLETED:
            raise _not_completed(batch_id, turn.status)
        return await deliveries.claim(
            conn,
            batch_id,
            actor_id=owner_id,
            limit=limit,
            lease_seconds=lease_seconds,
            cursor=turn.delivery_cursor,
            max_bytes=max_bytes,
        )


async def report(
    pool: Pool,
    owner_id: UUID,
    project_id: UUID,
    batch_id: UUID,
    row_id: UUID,
    status: DeliveryStatus,
    *,
    message: str | msgspec.UnsetType | None = msgspec.UNSET,
    step: str | msgspec.UnsetType | None = msgspec.UNSET,
    attempt: int | None = None,
) -> Row:
    """Record the outcome of a row's delivery (see the picture above): `InvalidTransition`
    (409) when the row's state does not accept it, its batch is not completed, or `attempt`
    is given and is not the row's claim count (it was claimed again since)."""
    async with transaction(pool) as conn:
        # In the transaction, on its connection: the check and the change are one unit of
        # work (and one connection taken from the pool, not two).
        await ownership.batch(conn, owner_id, project_id, batch_id)
        turn = await deliveries.lock_row(conn, batch_id, row_id)
        if turn is None:
            raise NotFound(f"row {row_id} not found in batch {batch_id}")
        if turn.batch_status is not BatchStatus.COMPLETED:
            raise _not_completed(batch_id, turn.batch_status)
        was = turn.delivery_status
        if attempt is not None and attempt != turn.delivery_attempts:
            raise InvalidTransition(
                f"row {row_id} was claimed again since attempt {attempt} (it is at attempt "
                f"{turn.delivery_attempts}): its lease ran out"
            )
        if status not in ALLOWED.get(was, frozenset()):
            raise InvalidTransition(f"row {row_id} is {was}: {_refusal(was)}")
        row = await deliveries.report(conn, row_id, status, message=message, step=step)
        assert row.delivery is not None  # a row of a completed batch
        await events.append(
            conn,
            batch_id=batch_id,
            actor_id=owner_id,
            kind=EventKind.ROW_DELIVERY_REPORTED,
            row_id=row_id,
            before={"status": was, "message": turn.delivery_message, "step": turn.delivery_step},
            after={
                "status": row.delivery.status,
                "message": row.delivery.message,
                "step": row.delivery.step,
            },
        )
        change = {state: int(state is status) - int(state is was) for state in COUNTED}
        await deliveries.count_change(
            conn,
            batch_id,
            in_progress=change[DeliveryStatus.IN_PROGRESS],
            done=change[DeliveryStatus.DONE],
            error=change[DeliveryStatus.ERROR],
        )
        return row


def _refusal(was: DeliveryStatus) -> str:
    if was is DeliveryStatus.DONE:
        return "done is final"
    if was is DeliveryStatus.PENDING:
        return "claim it first (POST …/rows/claim)"
    return "an error can only go back to pending, for a retry"
