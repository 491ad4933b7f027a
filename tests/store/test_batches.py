"""Batches store: create, finish, find, list newest first, soft delete with deleted_by."""

from __future__ import annotations

from service.entities import BatchMode, BatchStatus, ColumnMetadata, InferredType, StatusCounts
from service.store import batches
from tests.factories import make_batch, make_project, make_user


async def test_create_and_find(pool):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)
    columns = [
        ColumnMetadata(
            normalized_key="nome",
            original_header=" Nome ",
            inferred_type=InferredType.STRING,
            position=0,
            sheet_names=["A", "B"],
        ),
        ColumnMetadata(
            normalized_key="idade",
            original_header="Idade",
            inferred_type=InferredType.INTEGER,
            position=1,
        ),
    ]
    batch = await batches.create(
        pool,
        project_id=project.id,
        user_id=owner.id,
        mode=BatchMode.PROFILE_MODE,
        file_count=3,
        name="forms.xlsx",
        row_count=42,
        column_metadata=columns,
    )

    assert (batch.status, batch.mode, batch.file_count, batch.row_count) == (
        BatchStatus.PENDING_REVIEW,
        BatchMode.PROFILE_MODE,
        3,
        42,
    )
    assert batch.column_metadata == columns
    assert await batches.find_by_id(pool, batch.id) == batch
    stored = await pool.fetchval(
        "SELECT column_metadata::text FROM ingestion_batches WHERE id = $1", batch.id
    )
    # Stored with the spec's camelCase keys; sheetNames only where it applies.
    assert '"normalizedKey": "nome"' in stored
    assert '"sheetNames": ["A", "B"]' in stored
    assert stored.count("sheetNames") == 1


async def test_find_by_project_is_newest_first_and_hides_soft_deleted(pool):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)
    made = [await make_batch(pool, project=project) for _ in range(3)]
    await make_batch(pool, project=await make_project(pool, owner=owner))

    assert [b.id for b in await batches.find_by_project_id(pool, project.id)] == [
        b.id for b in reversed(made)
    ]

    assert await batches.soft_delete(pool, made[1].id, owner.id)
    assert not await batches.soft_delete(pool, made[1].id, owner.id)
    assert await batches.find_by_id(pool, made[1].id) is None
    assert [b.id for b in await batches.find_by_project_id(pool, project.id)] == [
        made[2].id,
        made[0].id,
    ]
    assert [
        b.id for b in await batches.find_by_project_id(pool, project.id, limit=1, offset=1)
    ] == [made[0].id]
    deleted_by = await pool.fetchval(
        "SELECT deleted_by FROM ingestion_batches WHERE id = $1", made[1].id
    )
    assert deleted_by == owner.id


async def test_get_for_owner_review_and_finish(pool):
    owner, other = await make_user(pool), await make_user(pool)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(pool, project=project)

    assert await batches.get_for_owner(pool, owner.id, project.id, batch.id) == batch
    assert await batches.get_for_owner(pool, other.id, project.id, batch.id) is None
    other_project = await make_project(pool, owner=owner)
    assert await batches.get_for_owner(pool, owner.id, other_project.id, batch.id) is None
    assert await batches.count_for_project(pool, project.id) == 1

    columns = [
        ColumnMetadata(
            normalized_key="a", original_header="A", inferred_type=InferredType.DATE, position=0
        )
    ]
    finished = await batches.finish(
        pool,
        batch.id,
        row_count=6,
        column_metadata=columns,
        counts=StatusCounts(valid=3, warning=2, error=1),
    )
    assert (finished.row_count, finished.column_metadata) == (6, columns)
    assert finished == await batches.find_by_id(pool, batch.id)
    reviewed = await batches.review(pool, batch.id, BatchStatus.COMPLETED)
    assert reviewed is not None
    assert reviewed.status is BatchStatus.COMPLETED
    assert reviewed.status_counts == StatusCounts(valid=3, warning=2, error=1)
    # Final states are final.
    assert await batches.review(pool, batch.id, BatchStatus.FAILED) is None
