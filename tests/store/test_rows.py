"""Rows store: binary COPY in one transaction, atomic on failure, exact JSONB round trip."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from service.db import transaction
from service.entities import RowStatus, StatusCounts, ValidationMessage
from service.store import batches, rows
from tests.factories import NewRow, make_batch, make_project, make_user, new_rows


async def _batch(pool):
    owner = await make_user(pool)
    return owner, await make_batch(pool, project=await make_project(pool, owner=owner))


async def test_create_many_copies_200k_rows_in_one_transaction(pool):
    owner = await make_user(pool)
    async with transaction(pool) as conn:
        batch = await make_batch(
            conn, project=await make_project(conn, owner=owner), uploader=owner
        )
        written = await rows.create_many(conn, new_rows(batch.id, 200_000))
        await batches.finish(
            conn,
            batch.id,
            row_count=written,
            column_metadata=[],
            counts=StatusCounts(valid=written, warning=0, error=0),
        )

    assert written == 200_000
    assert (await batches.find_by_id(pool, batch.id)).status_counts.valid == 200_000
    assert (
        await pool.fetchval("SELECT count(*) FROM ingestion_rows WHERE batch_id = $1", batch.id)
        == 200_000
    )
    page = await rows.find_by_batch_id(pool, batch.id, limit=3, offset=149_999)
    assert [r.position for r in page] == [149_999, 150_000, 150_001]
    assert page[0].data["id"] == 149_999


async def test_a_failure_mid_copy_leaves_no_batch_and_no_rows(pool):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)
    batch_ids = []

    def poisoned(batch_id):
        for row in new_rows(batch_id, 200_000):
            if row.position == 150_000:
                # NUL is valid JSON but PostgreSQL's jsonb refuses it: the server aborts COPY.
                row = row._replace(data={"bad": "\u0000"})
            yield row

    async def ingest():
        async with transaction(pool) as conn:
            batch = await make_batch(conn, project=project)
            batch_ids.append(batch.id)
            await rows.create_many(conn, poisoned(batch.id))

    with pytest.raises(asyncpg.UntranslatableCharacterError):
        await ingest()

    assert await batches.find_by_id(pool, batch_ids[0]) is None
    assert await pool.fetchval("SELECT count(*) FROM ingestion_batches") == 0
    assert await pool.fetchval("SELECT count(*) FROM ingestion_rows") == 0


async def test_create_many_accepts_an_async_iterable(pool):
    _, batch = await _batch(pool)

    async def produce() -> AsyncIterator[NewRow]:
        for row in new_rows(batch.id, 2_500):
            yield row

    assert await rows.create_many(pool, produce()) == 2_500
    assert len(await rows.find_by_batch_id(pool, batch.id)) == 2_500


async def test_jsonb_round_trip_is_exact(pool):
    _, batch = await _batch(pool)
    data = {
        "nested": {"list": [1, 2.5, "três", None, {"deep": [True, False]}]},
        "empty_string": "",
        "none": None,
        "unicode": "São João — ação, 漢字, emoji 🧾, RTL עברית",
        "big_int": 2**63 - 1,
        "negative_big": -(2**63),
        "float": 1.0000000000000002,
        "tiny": 5e-324,
        "escapes": 'quote " backslash \\ newline \n tab \t',
    }
    messages = [ValidationMessage(field="cpf", type="empty", message="Empty field")]
    await rows.create_many(
        pool,
        [
            NewRow(
                batch_id=batch.id,
                position=0,
                data=data,
                status=RowStatus.WARNING,
                validation_messages=messages,
                source_file_name="dados ç.xlsx",
                source_sheet_name="Planilha 1",
                source_row_index=7,
            )
        ],
    )
    [row] = await rows.find_by_batch_id(pool, batch.id)

    assert row.data == data
    assert "none" in row.data
    assert row.data["none"] is None
    assert type(row.data["big_int"]) is int
    assert math.copysign(1, row.data["float"]) == 1
    assert row.validation_messages == messages
    assert row.status is RowStatus.WARNING
    assert (row.source_file_name, row.source_sheet_name, row.source_row_index) == (
        "dados ç.xlsx",
        "Planilha 1",
        7,
    )
    raw = await pool.fetchval("SELECT data->>'none' IS NULL AND data ? 'none' FROM ingestion_rows")
    assert raw is True


async def test_rows_are_read_in_position_order_and_hidden_with_their_batch(pool):
    owner, batch = await _batch(pool)
    shuffled = list(new_rows(batch.id, 50))[::-1]
    await rows.create_many(pool, shuffled)

    assert [r.position for r in await rows.find_by_batch_id(pool, batch.id)] == list(range(50))

    await pool.execute(
        "UPDATE ingestion_rows SET deleted_at = now() WHERE batch_id = $1 AND position < 10",
        batch.id,
    )
    assert len(await rows.find_by_batch_id(pool, batch.id)) == 40

    assert await batches.soft_delete(pool, batch.id, owner.id)
    assert await rows.find_by_batch_id(pool, batch.id) == []
    # The rows themselves stay, so the batch can be restored.
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM ingestion_rows WHERE batch_id = $1 AND deleted_at IS NULL",
            batch.id,
        )
        == 40
    )


async def test_status_filter_and_get_by_id(pool):
    _, batch = await _batch(pool)
    statuses = [RowStatus.VALID, RowStatus.WARNING, RowStatus.ERROR] * 4
    await rows.create_many(
        pool,
        [row._replace(status=statuses[row.position]) for row in new_rows(batch.id, 12)],
    )
    warnings = await rows.find_by_batch_id(pool, batch.id, status=RowStatus.WARNING, limit=2)
    assert [r.position for r in warnings] == [1, 4]
    assert await rows.get(pool, batch.id, warnings[0].id) == warnings[0]
    other = (await _batch(pool))[1]
    assert await rows.get(pool, other.id, warnings[0].id) is None


async def test_rows_of_one_batch_cannot_be_hard_deleted_out_from_under_it(pool):
    _, batch = await _batch(pool)
    await rows.create_many(pool, new_rows(batch.id, 1))
    with pytest.raises(asyncpg.RestrictViolationError, match="fk_ingestion_rows_batch_id"):
        await pool.execute("DELETE FROM ingestion_batches WHERE id = $1", batch.id)


async def test_amend_sets_status_and_messages_of_the_rows_at_those_positions(pool):
    _, batch = await _batch(pool)
    _, other = await _batch(pool)
    await rows.create_many(pool, [*new_rows(batch.id, 4), *new_rows(other.id, 4)])
    late = [ValidationMessage(field="a", type="type_mismatch", message="Expected an integer")]
    await rows.amend(
        pool,
        batch.id,
        [
            (1, RowStatus.WARNING, late),
            (3, RowStatus.ERROR, msgspec.Raw(msgspec.json.encode(late))),
        ],
    )
    await rows.amend(pool, batch.id, [])

    stored = await rows.find_by_batch_id(pool, batch.id)
    assert [(row.status, row.validation_messages) for row in stored] == [
        (RowStatus.VALID, []),
        (RowStatus.WARNING, late),
        (RowStatus.VALID, []),
        (RowStatus.ERROR, late),
    ]
    assert {row.status for row in await rows.find_by_batch_id(pool, other.id)} == {RowStatus.VALID}
