"""Remembered mappings: the matching of the last completed list-mode batch per header
fingerprint, found through the fingerprint PostgreSQL generates from the column metadata."""

from __future__ import annotations

from service.entities import BatchMode, BatchStatus, ColumnMetadata, InferredType
from service.ingest.matching import header_fingerprint
from service.store import batches, mappings
from tests.factories import make_project, make_user


def column(key: str, target: str | None, matched_by: str | None, position: int) -> ColumnMetadata:
    return ColumnMetadata(
        normalized_key=key,
        original_header=key.title(),
        inferred_type=InferredType.STRING,
        position=position,
        target_field=target,
        matched_by=matched_by,
        confidence=None if matched_by is None else 1.0,
    )


async def add_batch(pool, project, columns, status=BatchStatus.COMPLETED, mode=None):
    batch = await batches.create(
        pool,
        project_id=project.id,
        user_id=project.user_id,
        mode=mode or BatchMode.LIST_MODE,
        file_count=1,
        name="clientes.csv",
        column_metadata=columns,
    )
    if status is not BatchStatus.PENDING_REVIEW:
        await batches.review(pool, batch.id, status)
    return batch


async def test_the_fingerprint_is_generated_as_matching_computes_it(pool):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)
    batch = await add_batch(
        pool, project, [column("nome", None, None, 0), column("a_b", None, None, 1)]
    )
    stored = await pool.fetchval(
        "SELECT header_fingerprint FROM ingestion_batches WHERE id = $1", batch.id
    )
    assert stored == header_fingerprint(["nome", "a_b"])


async def test_the_last_completed_batch_per_header_is_remembered(pool):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)
    header = [("nome", "nome", "key", 0), ("fone", "telefone", "alias", 1), ("obs", None, None, 2)]
    older = [column(*entry) for entry in header]
    await add_batch(pool, project, older)
    newer = [
        column("nome", "nome", "key", 0),
        column("fone", None, "explicit", 1),
        column("obs", "email", "explicit", 2),
    ]
    await add_batch(pool, project, newer)
    # Neither a pending nor a failed nor a deleted batch nor another header counts.
    other = [
        column("nome", "cpf", "explicit", 0),
        column("fone", "email", "explicit", 1),
        column("obs", "uf", "explicit", 2),
    ]
    await add_batch(pool, project, other, status=BatchStatus.PENDING_REVIEW)
    await add_batch(pool, project, other, status=BatchStatus.FAILED)
    deleted = await add_batch(pool, project, other)
    await batches.soft_delete(pool, deleted.id, owner.id)
    await add_batch(pool, project, [column("cpf", "cpf", "key", 0)])
    # Another project's batches are not this one's.
    elsewhere = await make_project(pool, owner=owner)
    await add_batch(pool, elsewhere, other)

    remembered = await mappings.remembered(pool, project.id)
    assert remembered == {
        header_fingerprint(["nome", "fone", "obs"]): {"nome": "nome", "fone": None, "obs": "email"},
        header_fingerprint(["cpf"]): {"cpf": "cpf"},
    }


async def test_batches_without_matching_remember_nothing(pool):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)
    plain = ColumnMetadata(
        normalized_key="nome", original_header="Nome", inferred_type=InferredType.STRING, position=0
    )
    await add_batch(pool, project, [plain])
    assert await mappings.remembered(pool, project.id) == {}
