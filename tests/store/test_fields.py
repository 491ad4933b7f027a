"""Fields store: per-key counts and value frequencies, computed by PostgreSQL."""

from __future__ import annotations

from service.entities import ValueCount
from service.store import fields, rows
from tests.factories import make_batch, make_project, make_user, new_rows


async def _batch_with(pool, records):
    owner = await make_user(pool)
    batch = await make_batch(pool, project=await make_project(pool, owner=owner))
    stream = new_rows(batch.id, len(records))
    await rows.create_many(
        pool, [row._replace(data=record) for row, record in zip(stream, records, strict=True)]
    )
    return batch


async def test_stats_count_present_empty_and_distinct(pool):
    batch = await _batch_with(
        pool,
        [
            {"cidade": "São Paulo", "idade": 30},
            {"cidade": "sao paulo", "idade": 30},
            {"cidade": None, "idade": 41},
            {"cidade": "São Paulo", "idade": None},
        ],
    )
    stats = await fields.stats(pool, batch.id, seconds=30)
    assert {s.key: (s.present_count, s.empty_count, s.distinct_count) for s in stats} == {
        "cidade": (3, 1, 2),
        "idade": (3, 1, 2),
    }


async def test_values_most_frequent_first_with_accent_insensitive_search(pool):
    batch = await _batch_with(
        pool,
        [{"cidade": c} for c in ["São Paulo", "Lisboa", "São Paulo", "SAO PAULO", "Porto", None]]
        + [{"cidade": 7}, {"cidade": 7}],
    )
    page = await fields.values(pool, batch.id, "cidade", search=None, limit=2, offset=0)
    assert page.total == 5
    # Ties are broken by jsonb order, in which strings come before numbers.
    assert page.items == [ValueCount(value="São Paulo", count=2), ValueCount(value=7, count=2)]

    found = await fields.values(pool, batch.id, "cidade", search="sÃo pau", limit=10, offset=0)
    assert found.total == 2
    assert found.items == [
        ValueCount(value="São Paulo", count=2),
        ValueCount(value="SAO PAULO", count=1),
    ]
    beyond = await fields.values(pool, batch.id, "cidade", search=None, limit=10, offset=50)
    assert (beyond.total, beyond.items) == (5, [])
    # Wildcards are plain text in a search.
    assert (await fields.values(pool, batch.id, "cidade", search="%", limit=5, offset=0)).total == 0


async def test_stats_are_computed_once_and_saved_on_the_batch(pool):
    batch = await _batch_with(pool, [{"k": 1}, {"k": None}])
    assert await pool.fetchval("SELECT field_stats FROM ingestion_batches") is None

    first = await fields.stats(pool, batch.id, seconds=30)
    saved = await pool.fetchval("SELECT field_stats FROM ingestion_batches")
    assert saved == [{"key": "k", "present_count": 1, "empty_count": 1, "distinct_count": 1}]
    # The saved answer is what later requests get (rows never change after ingestion).
    await pool.execute(
        "UPDATE ingestion_batches"
        " SET field_stats = jsonb_set(field_stats, '{0,distinct_count}', '7')"
    )
    assert (await fields.stats(pool, batch.id, seconds=30))[0].distinct_count == 7
    assert first[0].present_count == 1


async def test_a_key_no_row_fills_counts_zero_not_null(pool):
    batch = await _batch_with(pool, [{"k": 1, "vazio": None}, {"k": 2, "vazio": None}])
    stats = await fields.stats(pool, batch.id, seconds=30)
    assert {s.key: (s.present_count, s.empty_count, s.distinct_count) for s in stats} == {
        "k": (2, 0, 2),
        "vazio": (0, 2, 0),
    }
    page = await fields.values(pool, batch.id, "vazio", search=None, limit=10, offset=0)
    assert (page.total, page.items) == (0, [])


async def test_a_batch_without_live_rows_keeps_an_empty_list_not_null(pool):
    """jsonb_agg over no key at all is NULL, which would read as "not computed yet" and be
    computed again on every request."""
    batch = await _batch_with(pool, [{"k": 1}])
    await pool.execute("UPDATE ingestion_rows SET deleted_at = now()")
    assert await fields.stats(pool, batch.id, seconds=30) == []
    assert await pool.fetchval("SELECT field_stats FROM ingestion_batches") == []
