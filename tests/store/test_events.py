"""Events store: appended one by one or set-based, read newest first, never changed."""

from __future__ import annotations

import asyncpg
import pytest

from service.db import transaction
from service.entities import EventKind
from service.store import events
from service.store.events import EventChange
from tests.factories import make_batch, make_project, make_user


async def _batch_with_rows(pool, count=3):
    owner = await make_user(pool)
    batch = await make_batch(
        pool,
        project=await make_project(pool, owner=owner),
        records=[{"uf": f"U{index}"} for index in range(count)],
    )
    row_ids = [
        r["id"]
        for r in await pool.fetch(
            "SELECT id FROM ingestion_rows WHERE batch_id = $1 ORDER BY position", batch.id
        )
    ]
    return owner, batch, row_ids


async def test_append_records_subject_actor_kind_and_values(pool):
    owner, batch, row_ids = await _batch_with_rows(pool)

    event = await events.append(
        pool,
        batch_id=batch.id,
        row_id=row_ids[0],
        actor_id=owner.id,
        kind=EventKind.ROW_EDITED,
        before={"uf": "U0"},
        after={"uf": "SP"},
    )

    assert (event.batch_id, event.row_id, event.actor_id, event.kind) == (
        batch.id,
        row_ids[0],
        owner.id,
        EventKind.ROW_EDITED,
    )
    assert (event.before, event.after) == ({"uf": "U0"}, {"uf": "SP"})
    assert event.created_at is not None
    assert await events.find_for_row(pool, row_ids[0], limit=10) == [event]


async def test_a_batch_event_has_no_row_and_null_values_stay_null(pool):
    owner, batch, _ = await _batch_with_rows(pool)

    event = await events.append(
        pool, batch_id=batch.id, actor_id=owner.id, kind=EventKind.BATCH_DELETED
    )

    assert (event.row_id, event.before, event.after) == (None, None, None)
    assert await events.find_for_batch(pool, batch.id, limit=10) == [event]


async def test_append_many_writes_one_event_per_change_in_one_statement(pool):
    owner, batch, row_ids = await _batch_with_rows(pool)

    written = await events.append_many(
        pool,
        batch_id=batch.id,
        actor_id=owner.id,
        kind=EventKind.ROW_BULK_EDITED,
        changes=[
            EventChange(row_id, {"uf": f"U{index}"}, {"uf": ["a", "list"]})
            for index, row_id in enumerate(row_ids)
        ],
    )

    assert written == 3
    assert (
        await events.append_many(
            pool, batch_id=batch.id, actor_id=owner.id, kind=EventKind.ROW_DELETED, changes=[]
        )
        == 0
    )
    found = await events.find_for_batch(pool, batch.id, limit=10)
    assert [e.row_id for e in found] == row_ids[::-1]
    assert found[-1].before == {"uf": "U0"}
    assert found[-1].after == {"uf": ["a", "list"]}


async def test_histories_page_newest_first_with_counts(pool):
    owner, batch, row_ids = await _batch_with_rows(pool, count=2)
    appended = [
        await events.append(
            pool,
            batch_id=batch.id,
            row_id=row_ids[index % 2],
            actor_id=owner.id,
            kind=EventKind.ROW_EDITED,
            before={"uf": str(index)},
            after={"uf": str(index + 1)},
        )
        for index in range(5)
    ]
    batch_event = await events.append(
        pool, batch_id=batch.id, actor_id=owner.id, kind=EventKind.BATCH_REVIEWED
    )

    assert await events.count_for_row(pool, row_ids[0]) == 3
    assert await events.count_for_batch(pool, batch.id) == 6
    assert await events.find_for_row(pool, row_ids[0], limit=2, offset=1) == [
        appended[2],
        appended[0],
    ]
    assert await events.find_for_batch(pool, batch.id, limit=2) == [batch_event, appended[4]]


async def test_an_event_rolls_back_with_its_transaction(pool):
    owner, batch, _ = await _batch_with_rows(pool)

    async def failing_change():
        async with transaction(pool) as conn:
            await events.append(
                conn, batch_id=batch.id, actor_id=owner.id, kind=EventKind.BATCH_DELETED
            )
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()

    assert await events.count_for_batch(pool, batch.id) == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ingestion_events SET kind = 'row.restored'",
        "DELETE FROM ingestion_events",
        "TRUNCATE ingestion_events",
    ],
)
async def test_the_trail_cannot_be_edited(pool, statement):
    owner, batch, _ = await _batch_with_rows(pool)
    await events.append(pool, batch_id=batch.id, actor_id=owner.id, kind=EventKind.BATCH_DELETED)

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await pool.execute(statement)

    assert await events.count_for_batch(pool, batch.id) == 1


async def test_a_kind_must_be_a_dotted_name(pool):
    owner, batch, _ = await _batch_with_rows(pool)

    with pytest.raises(asyncpg.CheckViolationError):
        await events.append(pool, batch_id=batch.id, actor_id=owner.id, kind="Edited")  # type: ignore[arg-type]
