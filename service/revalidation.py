"""Re-validation in place (issue 18): a `pending_review` batch's live rows checked again
against a version of its project's schema, without uploading the file again.

One transaction: the batch row is locked first (`FOR UPDATE`), so a review of the same batch
waits for the re-validation or the re-validation finds the batch reviewed (409): counts and
rows never disagree. Then `unique` is recomputed set-based in SQL (`rule_checks`), the rows
are read in pages of `PAGE_ROWS` by position (the next page read while one is checked) and
every other rule message recomputed off the event loop (`rules.rows`), only the rows whose
messages or status change are written back, and the counts recorded. Memory stays flat (two
pages at a time) whatever the batch's size. Values are never changed: a re-validation
rewrites messages and statuses only, and each row it changes gets one more `version` (so its
ETag changes; rows it leaves alone keep theirs); one `batch.revalidated` event records the
counts and schema version before and after.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from uuid import UUID

import msgspec

from service import ownership, rule_checks
from service.db import Pool, transaction
from service.entities import BatchStatus, RowStatus, StatusCounts
from service.errors import InvalidTransition, NotFound
from service.rules.rows import Message, RowRules
from service.store import project_schemas
from service.store import revalidation as store
from service.store.revalidation import RowToCheck

PAGE_ROWS = 5000


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    before: StatusCounts
    after: StatusCounts
    changed_rows: int
    schema_version: int


async def revalidate(
    pool: Pool, user_id: UUID, project_id: UUID, batch_id: UUID, version: int | None
) -> Outcome:
    """Check the batch's rows again against schema `version` (None: the current schema)."""
    await ownership.batch(pool, user_id, project_id, batch_id)
    async with transaction(pool) as conn:
        locked = await store.lock_batch(conn, batch_id)
        if locked is None:
            raise ownership.missing_batch(project_id, batch_id)
        if locked.status is not BatchStatus.PENDING_REVIEW:
            raise InvalidTransition(
                f"batch {batch_id} is {locked.status}: only a pending_review batch can be "
                "re-validated"
            )
        if version is None:
            schema = await project_schemas.get_current_schema(conn, project_id)
            if schema is None:
                raise NotFound(
                    f"project {project_id} has no schema (or schemas are off); "
                    "name a version with schemaVersion"
                )
        else:
            schema = await project_schemas.get_schema_by_version(conn, project_id, version)
            if schema is None:
                raise NotFound(f"project {project_id} has no schema version {version}")
        keys = [column.normalized_key for column in locked.column_metadata]
        await rule_checks.mark_repeated(conn, batch_id, schema, keys, replace=True)
        row_rules = RowRules(keys, schema)
        tally: Counter[RowStatus] = Counter()
        changed = 0
        page = await store.rows_after(conn, batch_id, -1, PAGE_ROWS)
        while page:
            # The next page is read while this one is checked (in a thread): its rows are
            # others, so the rewrite of this one can wait until both are done.
            following = asyncio.ensure_future(
                store.rows_after(conn, batch_id, page[-1].position, PAGE_ROWS)
            )
            try:
                ids, statuses, messages, page_tally, touched = await asyncio.to_thread(
                    _changes, row_rules, page
                )
                page = await following
            finally:
                if not following.done():
                    following.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await following
            tally.update(page_tally)
            changed += len(ids) + touched
            if ids:
                await store.rewrite(conn, batch_id, ids, statuses, messages)
        after = StatusCounts(
            valid=tally[RowStatus.VALID],
            warning=tally[RowStatus.WARNING],
            error=tally[RowStatus.ERROR],
        )
        await store.record(
            conn,
            batch_id,
            actor_id=user_id,
            before=locked.status_counts,
            before_version=locked.schema_version,
            after=after,
            schema_version=schema.version,
            changed_rows=changed,
        )
    return Outcome(
        before=locked.status_counts,
        after=after,
        changed_rows=changed,
        schema_version=schema.version,
    )


def _changes(
    row_rules: RowRules, page: list[RowToCheck]
) -> tuple[list[UUID], list[RowStatus], list[list[Message]], Counter[RowStatus], int]:
    """The rows of a page whose messages or status change, with their new ones; every row's
    final status, counted; how many rows unchanged here were rewritten before (`unique`)."""
    ids: list[UUID] = []
    statuses: list[RowStatus] = []
    messages: list[list[Message]] = []
    tally: Counter[RowStatus] = Counter()
    touched = 0
    checked = row_rules.revalidate_many(
        [row.data for row in page], [row.validation_messages for row in page]
    )
    for row, (new, status) in zip(page, checked, strict=True):
        tally[status] += 1
        if new != row.validation_messages or status is not row.status:
            ids.append(row.id)
            statuses.append(status)
            messages.append(new)
        elif row.touched:
            touched += 1
    return ids, statuses, messages, tally, touched
