"""The review loop's service: audited row edits applied set-based inside the caller's
transaction (`apply_row_edits`, which the export's fix loop also uses), re-validated at once,
with the batch's counts exact."""

from __future__ import annotations

import uuid

import pytest

from service import review
from service.db import transaction
from service.entities import (
    BatchStatus,
    EventKind,
    InferredType,
    RowStatus,
    StatusCounts,
    ValidationMessage,
)
from service.errors import InvalidTransition, Unprocessable
from service.ingest import validation
from service.store import batches, events, rows
from tests.factories import make_batch, make_project, make_user

SANITIZED = validation.sanitized("nome", "NUL characters removed")


async def _people(pool):
    """Four people; `idade` is an integer column, `cidade` warns empty values (filled at
    upload in all but one row, which has its `empty` message), `obs` does not."""
    owner = await make_user(pool)
    batch = await make_batch(
        pool,
        project=await make_project(pool, owner=owner),
        records=[
            {"nome": "Ana", "idade": 30, "cidade": "Recife", "obs": None},
            {"nome": "Bia", "idade": 41, "cidade": None, "obs": "x"},
            {"nome": "Caio", "idade": 25, "cidade": "Porto", "obs": None},
            {"nome": "Duda", "idade": 52, "cidade": "Lisboa", "obs": None},
        ],
        statuses=[RowStatus.WARNING, RowStatus.WARNING, RowStatus.VALID, RowStatus.VALID],
        messages=[[SANITIZED], [validation.empty("cidade")], [], []],
        types={"idade": InferredType.INTEGER},
    )
    found = await rows.find_by_batch_id(pool, batch.id)
    return owner, batch, [row.id for row in found]


async def _apply(pool, batch, owner, patches):
    async with transaction(pool) as conn:
        return await review.apply_row_edits(conn, batch, owner.id, patches)


async def test_edits_change_only_the_given_keys_and_revalidate_those_rows(pool):
    owner, batch, ids = await _people(pool)

    outcome = await _apply(
        pool,
        batch,
        owner,
        {ids[0]: {"idade": "31"}, ids[2]: {"idade": "vinte"}, ids[3]: {"nome": " Duda M. "}},
    )

    assert outcome == review.EditOutcome(
        counts_before=StatusCounts(valid=2, warning=2, error=0),
        counts_after=StatusCounts(valid=1, warning=3, error=0),
        rows_changed=3,
        cells_changed=3,
    )
    found = await rows.find_by_batch_id(pool, batch.id)
    assert [row.data for row in found] == [
        {"nome": "Ana", "idade": "31", "cidade": "Recife", "obs": None},
        {"nome": "Bia", "idade": 41, "cidade": None, "obs": "x"},
        {"nome": "Caio", "idade": "vinte", "cidade": "Porto", "obs": None},
        {"nome": "Duda M.", "idade": 52, "cidade": "Lisboa", "obs": None},
    ]
    # "31" is an integer's text: no message; the other key's message is kept.
    assert found[0].validation_messages == [SANITIZED]
    assert found[2].validation_messages == [validation.type_mismatch("idade", InferredType.INTEGER)]
    assert [row.status for row in found] == ["warning", "warning", "warning", "valid"]
    assert [row.version for row in found] == [2, 1, 2, 2]
    assert (await batches.find_by_id(pool, batch.id)).status_counts == outcome.counts_after


async def test_each_changed_row_gets_one_event_of_the_keys_that_changed(pool):
    owner, batch, ids = await _people(pool)

    await _apply(pool, batch, owner, {ids[1]: {"nome": "Bia", "idade": 42, "obs": None}})

    (event,) = await events.find_for_batch(pool, batch.id, limit=10)
    assert (event.row_id, event.actor_id, event.kind) == (ids[1], owner.id, EventKind.ROW_EDITED)
    assert (event.before, event.after) == ({"idade": 41, "obs": "x"}, {"idade": 42, "obs": None})


async def test_an_emptied_value_warns_only_where_its_column_warns_empty(pool):
    owner, batch, ids = await _people(pool)

    outcome = await _apply(
        pool,
        batch,
        owner,
        {ids[1]: {"cidade": "Natal"}, ids[2]: {"cidade": "  ", "obs": ""}, ids[3]: {"idade": None}},
    )

    found = await rows.find_by_batch_id(pool, batch.id)
    assert found[1].validation_messages == []
    assert found[2].data["cidade"] is None
    assert found[2].validation_messages == [validation.empty("cidade")]
    # idade was filled in every row: it warns too; obs has empty values without a message.
    assert found[3].validation_messages == [validation.empty("idade")]
    assert [row.status for row in found] == ["warning", "valid", "warning", "warning"]
    assert outcome.counts_after == StatusCounts(valid=1, warning=3, error=0)
    # Found once for every key, and kept on the batch for the next edits.
    kept = "SELECT empty_warned_keys FROM ingestion_batches WHERE id = $1"
    assert await pool.fetchval(kept, batch.id) == ["cidade", "idade", "nome"]


async def test_a_patch_that_changes_nothing_leaves_the_row_alone(pool):
    owner, batch, ids = await _people(pool)

    outcome = await _apply(pool, batch, owner, {ids[0]: {"nome": "Ana"}, uuid.uuid4(): {}})

    assert (outcome.rows_changed, outcome.cells_changed) == (0, 0)
    assert (await rows.get(pool, batch.id, ids[0])).version == 1
    assert await events.count_for_batch(pool, batch.id) == 0


async def test_edits_need_a_batch_pending_review_and_its_own_keys(pool):
    owner, batch, ids = await _people(pool)

    with pytest.raises(Unprocessable, match="'idadee' is not a key"):
        await _apply(pool, batch, owner, {ids[0]: {"idade": 1}, ids[1]: {"idadee": 2}})
    with pytest.raises(Unprocessable, match="'nome' must be null, a boolean"):
        await _apply(pool, batch, owner, {ids[0]: {"nome": ["a"]}})
    await batches.review(pool, batch.id, BatchStatus.COMPLETED)
    with pytest.raises(InvalidTransition, match="pending review"):
        await _apply(pool, batch, owner, {ids[0]: {"idade": 1}})

    assert [row.version for row in await rows.find_by_batch_id(pool, batch.id)] == [1] * 4
    assert await events.count_for_batch(pool, batch.id) == 0


async def test_messages_stay_in_column_order_with_extra_cells_last(pool):
    owner = await make_user(pool)
    extra = ValidationMessage(field="column_e", type="extra_cells", message="1 cell dropped")
    batch = await make_batch(
        pool,
        project=await make_project(pool, owner=owner),
        records=[{"a": "x", "b": 1, "c": "y"}],
        statuses=[RowStatus.WARNING],
        messages=[[validation.sanitized("a", "fixed"), validation.sanitized("c", "fixed"), extra]],
        types={"b": InferredType.INTEGER},
    )
    (row,) = await rows.find_by_batch_id(pool, batch.id)

    await _apply(pool, batch, owner, {row.id: {"b": "um"}})

    assert [m.field for m in (await rows.get(pool, batch.id, row.id)).validation_messages] == [
        "a",
        "b",
        "c",
        "column_e",
    ]


async def test_messages_of_several_edited_keys_merge_into_column_order(pool):
    owner = await make_user(pool)
    types = {key: InferredType.INTEGER for key in "abcd"}
    extra = ValidationMessage(field="column_f", type="extra_cells", message="1 cell dropped")
    batch = await make_batch(
        pool,
        project=await make_project(pool, owner=owner),
        records=[{"a": 1, "b": 2, "c": 3, "d": 4}],
        statuses=[RowStatus.WARNING],
        messages=[[validation.sanitized("b", "fixed"), validation.sanitized("d", "fixed"), extra]],
        types=types,
    )
    (row,) = await rows.find_by_batch_id(pool, batch.id)

    await _apply(pool, batch, owner, {row.id: {"d": "x", "c": "y", "a": "z"}})

    found = (await rows.get(pool, batch.id, row.id)).validation_messages
    assert [(m.field, m.type) for m in found] == [
        ("a", "type_mismatch"),
        ("b", "sanitized"),
        ("c", "type_mismatch"),
        ("d", "type_mismatch"),
        ("column_f", "extra_cells"),
    ]
