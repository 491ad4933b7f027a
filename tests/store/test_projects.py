"""Projects store: owner scoping, live-name uniqueness, UNSET-aware updates, cascading
soft delete."""

from __future__ import annotations

import asyncpg
import msgspec
import pytest

from service.entities import ProjectStatus
from service.errors import Conflict
from service.store import batches, projects
from tests.factories import make_batch, make_project, make_user


async def test_create_and_get_is_owner_scoped(pool):
    owner, other = await make_user(pool), await make_user(pool)
    project = await projects.create(pool, owner.id, name="Clientes", description="2026")

    assert project.status is ProjectStatus.ACTIVE
    assert await projects.get(pool, owner.id, project.id) == project
    assert await projects.get(pool, other.id, project.id) is None


async def test_duplicate_live_name_is_a_conflict_but_a_deleted_name_is_free(pool):
    owner, other = await make_user(pool), await make_user(pool)
    first = await projects.create(pool, owner.id, name="Clientes", description=None)

    with pytest.raises(Conflict, match="already have a live project"):
        await projects.create(pool, owner.id, name="Clientes", description=None)
    # Another owner may use the same name.
    await projects.create(pool, other.id, name="Clientes", description=None)

    assert await projects.soft_delete(pool, owner.id, first.id)
    again = await projects.create(pool, owner.id, name="Clientes", description=None)
    assert again.id != first.id


async def test_list_is_newest_first_with_total_and_paging(pool):
    owner = await make_user(pool)
    made = [await make_project(pool, owner=owner, name=f"p{i}") for i in range(5)]
    await make_project(pool, owner=await make_user(pool))  # someone else's

    page, total = await projects.list_for_owner(pool, owner.id, limit=2, offset=1)

    assert total == 5
    assert [p.id for p in page] == [made[3].id, made[2].id]


async def test_update_tells_absent_from_null(pool):
    owner = await make_user(pool)
    project = await projects.create(pool, owner.id, name="Clientes", description="keep me")

    renamed = await projects.update(pool, owner.id, project.id, name="Fornecedores")
    assert renamed is not None
    assert (renamed.name, renamed.description) == ("Fornecedores", "keep me")

    cleared = await projects.update(
        pool, owner.id, project.id, description=None, status=ProjectStatus.ARCHIVED
    )
    assert cleared is not None
    assert (cleared.name, cleared.description, cleared.status) == (
        "Fornecedores",
        None,
        ProjectStatus.ARCHIVED,
    )
    assert cleared.updated_at > project.updated_at
    assert await projects.update(pool, (await make_user(pool)).id, project.id, name="x") is None


async def test_update_to_a_taken_name_is_a_conflict(pool):
    owner = await make_user(pool)
    await make_project(pool, owner=owner, name="A")
    b = await make_project(pool, owner=owner, name="B")
    with pytest.raises(Conflict):
        await projects.update(pool, owner.id, b.id, name="A")
    assert await projects.update(pool, owner.id, b.id, name=msgspec.UNSET) is not None


async def test_soft_delete_cascades_to_its_batches_only_for_the_owner(pool):
    owner, other = await make_user(pool), await make_user(pool)
    project = await make_project(pool, owner=owner)
    kept_project = await make_project(pool, owner=owner)
    doomed = [await make_batch(pool, project=project) for _ in range(2)]
    kept = await make_batch(pool, project=kept_project)

    assert not await projects.soft_delete(pool, other.id, project.id)
    assert await batches.find_by_id(pool, doomed[0].id) is not None

    assert await projects.soft_delete(pool, owner.id, project.id)
    assert await projects.get(pool, owner.id, project.id) is None
    assert not await projects.soft_delete(pool, owner.id, project.id)
    for batch in doomed:
        assert await batches.find_by_id(pool, batch.id) is None
    assert await batches.find_by_id(pool, kept.id) == kept
    deleted_by = await pool.fetch(
        "SELECT deleted_by FROM ingestion_batches WHERE project_id = $1", project.id
    )
    assert [r["deleted_by"] for r in deleted_by] == [owner.id, owner.id]


async def test_projects_with_batches_cannot_be_hard_deleted(pool):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)
    await make_batch(pool, project=project)

    with pytest.raises(asyncpg.RestrictViolationError, match="fk_ingestion_batches_project_id"):
        await pool.execute("DELETE FROM projects WHERE id = $1", project.id)
    with pytest.raises(asyncpg.RestrictViolationError, match="fk_projects_user_id"):
        await pool.execute("DELETE FROM users WHERE id = $1", owner.id)


async def test_name_and_description_limits_are_enforced_by_the_schema(pool):
    owner = await make_user(pool)
    with pytest.raises(asyncpg.CheckViolationError, match="ck_projects_name_length"):
        await projects.create(pool, owner.id, name="x" * 101, description=None)
    with pytest.raises(asyncpg.CheckViolationError, match="ck_projects_description_length"):
        await projects.create(pool, owner.id, name="ok", description="d" * 2001)


async def test_get_any_owner_finds_live_projects_only(pool):
    owner = await make_user(pool)
    project = await make_project(pool, owner=owner)
    assert await projects.get_any_owner(pool, project.id) == project
    await projects.soft_delete(pool, owner.id, project.id)
    assert await projects.get_any_owner(pool, project.id) is None
