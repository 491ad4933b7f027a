"""Factories: build exactly what a test asserts on, with unique defaults."""

from __future__ import annotations

import collections
import uuid
from collections.abc import Iterator
from typing import Any

from service.db import Executor
from service.entities import (
    Batch,
    BatchMode,
    ColumnMetadata,
    InferredType,
    Project,
    RowRecord,
    RowStatus,
    StatusCounts,
    User,
    ValidationMessage,
)
from service.store import batches, projects, rows, users


async def make_user(db: Executor, *, external_id: str | None = None) -> User:
    return await users.upsert_by_external_id(
        db, external_id or f"user-{uuid.uuid4().hex[:8]}", email=None, name=None
    )


async def make_project(db: Executor, *, owner: User, name: str | None = None) -> Project:
    return await projects.create(
        db, owner.id, name=name or f"project {uuid.uuid4().hex[:8]}", description=None
    )


async def make_batch(
    db: Executor,
    *,
    project: Project,
    uploader: User | None = None,
    file_count: int = 1,
    records: list[dict[str, Any]] | None = None,
    statuses: list[RowStatus] | None = None,
    messages: list[list[ValidationMessage]] | None = None,
    types: dict[str, InferredType] | None = None,
) -> Batch:
    """A batch, with `records` as its rows (and their `statuses`, default valid, and
    `messages`, default none) if given; its columns are strings unless `types` says."""
    records = records or []
    statuses = statuses or [RowStatus.VALID] * len(records)
    messages = messages or [[] for _ in records]
    types = types or {}
    keys = list(records[0]) if records else []
    batch = await batches.create(
        db,
        project_id=project.id,
        user_id=(uploader.id if uploader else project.user_id),
        mode=BatchMode.LIST_MODE,
        file_count=file_count,
        name="people.csv",
        row_count=len(records),
        column_metadata=[
            ColumnMetadata(
                normalized_key=key,
                original_header=key.title(),
                inferred_type=types.get(key, InferredType.STRING),
                position=index,
            )
            for index, key in enumerate(keys)
        ],
    )
    if records:
        stream = new_rows(batch.id, len(records))
        await rows.create_many(
            db,
            [
                row._replace(data=record, status=status, validation_messages=sent)
                for row, record, status, sent in zip(
                    stream, records, statuses, messages, strict=True
                )
            ],
        )
        counts = StatusCounts(
            valid=statuses.count(RowStatus.VALID),
            warning=statuses.count(RowStatus.WARNING),
            error=statuses.count(RowStatus.ERROR),
        )
        batch = await batches.finish(
            db,
            batch.id,
            row_count=batch.row_count,
            column_metadata=batch.column_metadata,
            counts=counts,
        )
    return batch


NewRow = collections.namedtuple("NewRow", ["batch_id", *RowRecord._fields])
"""A COPY record of `copy_rows` with names, for tests to build and change rows: the batch id,
then the fields of `entities.RowRecord`."""


def new_rows(
    batch_id: uuid.UUID, count: int, *, data: dict[str, Any] | None = None
) -> Iterator[NewRow]:
    """`count` rows of a 12-column record, generated lazily."""
    for index in range(count):
        yield NewRow(
            batch_id=batch_id,
            position=index,
            data=data if data is not None else record(index),
            status=RowStatus.VALID,
            validation_messages=[],
            source_file_name="people.csv",
            source_sheet_name="people",
            source_row_index=index + 2,
        )


def record(index: int) -> dict[str, Any]:
    """A 12-column record of mixed types, as a spreadsheet row becomes."""
    return {
        "id": index,
        "nome_completo": f"Pessoa Número {index}",
        "email": f"pessoa{index}@example.com",
        "idade": 18 + index % 60,
        "salario": round(1000 + index * 1.37, 2),
        "ativo": index % 2 == 0,
        "nascimento": f"19{50 + index % 50:02d}-{1 + index % 12:02d}-{1 + index % 28:02d}",
        "cidade": ["São Paulo", "Lisboa", "Porto", "Recife"][index % 4],
        "cep": f"{index % 100000:05d}-000",
        "telefone": f"+55 11 9{index % 100000000:08d}",
        "observacao": None if index % 3 else "ligar à tarde",
        "criado_em": f"2026-11-{1 + index % 28:02d}T10:{index % 60:02d}:00",
    }
