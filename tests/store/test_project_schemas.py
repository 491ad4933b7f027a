"""Project schemas store: versions numbered per project, the current one, retiring."""

from __future__ import annotations

import asyncio

import pytest

from service import errors
from service.schemas import FieldAnchor, FieldType, SchemaField, Severity
from service.store import project_schemas
from tests.factories import make_project, make_user


async def test_versions_are_numbered_and_the_newest_is_current(pool):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)
    assert await project_schemas.get_current_schema(pool, project.id) is None

    first = [
        SchemaField(
            key="cpf",
            label="CPF",
            required=True,
            unique=True,
            pattern=r"^\d{11}$",
            aliases=["documento"],
            anchor=FieldAnchor(label="CPF:", direction="right"),  # type: ignore[arg-type]
        )
    ]
    async with pool.acquire() as conn, conn.transaction():
        one = await project_schemas.create_version(conn, owner.id, project.id, first)
    second = [SchemaField(key="idade", type=FieldType.INTEGER, min=0, severity=Severity.WARNING)]
    async with pool.acquire() as conn, conn.transaction():
        two = await project_schemas.create_version(conn, owner.id, project.id, second)

    assert (one.version, two.version) == (1, 2)
    assert one.fields == first
    current = await project_schemas.get_current_schema(pool, project.id)
    assert current is not None
    assert current.version == 2
    assert current.fields == second
    old = await project_schemas.get_schema_by_version(pool, project.id, 1)
    assert old is not None
    assert old.fields == first
    assert await project_schemas.get_schema_by_version(pool, project.id, 3) is None


async def test_retiring_turns_schemas_off_until_the_next_version(pool):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)
    fields = [SchemaField(key="nome")]
    async with pool.acquire() as conn, conn.transaction():
        await project_schemas.create_version(conn, owner.id, project.id, fields)

    assert await project_schemas.retire(pool, project.id) == 1
    assert await project_schemas.get_current_schema(pool, project.id) is None
    assert await project_schemas.retire(pool, project.id) == 0
    kept = await project_schemas.get_schema_by_version(pool, project.id, 1)
    assert kept is not None
    assert kept.retired_at is not None

    async with pool.acquire() as conn, conn.transaction():
        again = await project_schemas.create_version(conn, owner.id, project.id, fields)
    current = await project_schemas.get_current_schema(pool, project.id)
    assert again.version == 2
    assert current is not None
    assert current.version == 2


async def test_only_the_owner_creates_versions(pool):
    owner, other = await make_user(pool), await make_user(pool)
    project = await make_project(pool, owner=owner)
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(errors.NotFound):
            await project_schemas.create_version(conn, other.id, project.id, [])


async def test_concurrent_versions_get_consecutive_numbers(pool):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)

    async def put(index: int) -> int:
        async with pool.acquire() as conn, conn.transaction():
            fields = [SchemaField(key=f"f{index}")]
            created = await project_schemas.create_version(conn, owner.id, project.id, fields)
            return created.version

    versions = await asyncio.gather(*(put(index) for index in range(5)))
    assert sorted(versions) == [1, 2, 3, 4, 5]
