"""The review loop: rows corrected in place (one, many by filter, or one patch per row),
deleted and restored, every change audited, while the batch is pending review.

Every change runs in one transaction that first locks the batch's row (`edit_store.lock_batch`):
the edits, deletes and verdicts of one batch serialize on it, so an edit racing a review
either lands before the verdict or finds the batch reviewed (409), and the batch's
`statusCounts` always equal a recount. Edited rows are re-validated in the statement that
edits them (the checks of spec §4.5 that depend on one value: `type_mismatch` by the column's
inferred type, `empty` where the column warns it; the messages of other keys are kept), and
an event per row changed goes to the audit trail (`store.events`) in the same statement.
When the batch was validated with a project schema (`schemaVersion`), edited values are
converted to their fields' types first and the edited rows re-checked by the schema's rules
afterwards, in the same transaction (`service.edit_schema`).

Values are cells: null, a boolean, a number or text. Text is trimmed and an empty text is
null (spec §4.3, as an upload stores it); integers beyond ±2^53 are kept as text, so no
digit is lost; text is at most `max_cell_chars` characters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from uuid import UUID

import msgspec

from service import edit_schema, ownership
from service.db import Connection, Pool, transaction
from service.entities import (
    Batch,
    BatchStatus,
    ColumnMetadata,
    Row,
    StatusCounts,
)
from service.errors import (
    InvalidInput,
    InvalidTransition,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)
from service.ingest import validation
from service.ingest.inference import (
    BOOLEAN,
    DATE,
    DATETIME,
    EMAIL,
    FITTING_KINDS,
    INTEGER,
    NUMBER,
    STRING,
    TIME,
    URL,
)
from service.ingest.values import MAX_SAFE_INTEGER, has_surrogates
from service.store import batches, rows
from service.store import edits as edit_store
from service.store.edits import BulkFilter, Changed

KIND_NAMES = {
    INTEGER: "integer",
    NUMBER: "number",
    BOOLEAN: "boolean",
    DATE: "date",
    DATETIME: "datetime",
    TIME: "time",
    EMAIL: "email",
    URL: "url",
    STRING: "string",
}
"""The kinds of inference.py by the names `sheetflow_value_kind` gives them in SQL."""

_ANY_KIND = frozenset(KIND_NAMES.values())


class EditOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What `apply_row_edits` did: the batch's counts before and after, and how many rows
    and cells (keys of a row whose value changed) changed."""

    counts_before: StatusCounts
    counts_after: StatusCounts
    rows_changed: int
    cells_changed: int


def cell_value(key: str, value: Any, max_chars: int) -> Any:
    """An edited value as a cell stores it, or `Unprocessable` naming the key."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Unprocessable(f"the value of {key!r} must be a finite number")
        return value
    if isinstance(value, str):
        if "\x00" in value or has_surrogates(value):
            raise Unprocessable(
                f"the value of {key!r} must be text without NUL (U+0000) or lone surrogates"
            )
        text = value.strip()
        if len(text) > max_chars:
            raise Unprocessable(
                f"the value of {key!r} has {len(text)} characters; a cell holds at most {max_chars}"
            )
        return text or None
    raise Unprocessable(
        f"the value of {key!r} must be null, a boolean, a number or text (a cell), "
        f"not {type(value).__name__}"
    )


def _columns(batch: Batch) -> dict[str, ColumnMetadata]:
    return {column.normalized_key: column for column in batch.column_metadata}


def check_keys(batch: Batch, keys: Iterable[str]) -> None:
    """`Unprocessable` naming the first key that is not one of the batch's."""
    columns = _columns(batch)
    unknown = [key for key in keys if key not in columns]
    if unknown:
        raise Unprocessable(
            f"{unknown[0]!r} is not a key of batch {batch.id}: edits change the values of "
            "its keys (GET …/fields lists them)"
        )


def patch_values(batch: Batch, patch: Mapping[str, Any], max_chars: int) -> dict[str, Any]:
    """A patch's keys checked against the batch and its values as cells store them."""
    check_keys(batch, patch)
    return {key: cell_value(key, value, max_chars) for key, value in patch.items()}


def edit_rules(batch: Batch, keys: Iterable[str], empty_warned: set[str]) -> dict[str, Any]:
    """What `sheetflow_revalidate` needs: every column's position (messages stay in column
    order) and, for each edited key, the kinds its type accepts and its messages."""
    columns = _columns(batch)
    rules: dict[str, Any] = {key: {"position": c.position} for key, c in columns.items()}
    for key in keys:
        type_ = columns[key].inferred_type
        fitting = frozenset(KIND_NAMES[kind] for kind in FITTING_KINDS[type_])
        rules[key] = {
            "position": columns[key].position,
            "accepts": None if fitting == _ANY_KIND else sorted(fitting),
            "mismatch": validation.type_mismatch(key, type_),
            "empty": validation.empty(key) if key in empty_warned else None,
        }
    return rules


def _converted(checker: edit_schema.SchemaEdits | None, cells: dict[str, Any]) -> dict[str, Any]:
    return cells if checker is None else checker.convert(cells)


def ensure_pending(batch: Batch) -> None:
    if batch.status is not BatchStatus.PENDING_REVIEW:
        raise InvalidTransition(
            f"batch {batch.id} is {batch.status}: its rows change only while it is pending review"
        )


async def _locked_pending(conn: Connection, batch_id: UUID) -> Batch:
    locked = await edit_store.lock_batch(conn, batch_id)
    if locked is None:
        raise NotFound(f"batch {batch_id} not found")
    ensure_pending(locked)
    return locked


async def _rules(
    conn: Connection, batch: Batch, patches: Iterable[Mapping[str, Any]]
) -> tuple[list[str], dict[str, Any]]:
    keys: dict[str, None] = {}
    emptied: dict[str, None] = {}
    for patch in patches:
        for key, value in patch.items():
            keys[key] = None
            if value is None:
                emptied[key] = None
    warned = await edit_store.empty_warned_keys(conn, batch, list(emptied))
    return list(keys), edit_rules(batch, keys, warned)


async def apply_row_edits(
    conn: Connection,
    batch: Batch,
    actor_id: UUID,
    edits: Mapping[UUID, Mapping[str, Any]],
    *,
    max_chars: int = 32_767,
) -> EditOutcome:
    """Apply one patch per row (`{row id: {key: value}}`) as audited edits, inside the
    caller's transaction: the batch must be pending review (else `InvalidTransition`), every
    key one of its keys (else `Unprocessable`); the rows are changed set-based in one
    statement, exactly those rows re-validated, one `row.edited` event per row changed (the
    keys whose value changed, before and after), the batch's counts adjusted. Ids that are
    not live rows of the batch are left out (`rows_changed` says how many changed); a patch
    that changes nothing leaves its row (and its version) alone. The caller checks that the
    batch is theirs (`ownership.batch`)."""
    locked = await _locked_pending(conn, batch.id)
    checker = await edit_schema.for_batch(conn, locked)
    patches = {
        row_id: _converted(checker, patch_values(locked, patch, max_chars))
        for row_id, patch in edits.items()
    }
    keys, rules = await _rules(conn, locked, patches.values())
    changed = await edit_store.edit_rows(conn, locked.id, patches, actor_id=actor_id, rules=rules)
    if checker is not None and changed.rows_changed:
        await edit_schema.recheck(conn, locked.id, checker, keys)
    after = await batches.find_by_id(conn, locked.id)
    assert after is not None
    return EditOutcome(
        counts_before=locked.status_counts,
        counts_after=after.status_counts,
        rows_changed=changed.rows_changed,
        cells_changed=changed.cells_changed,
    )


def parse_if_match(header: str | None) -> list[int] | None:
    """The versions an `If-Match` header accepts (None: no header, or `*`). Only strong
    tags compare (RFC 9110 §13.1.1): a weak `W/"3"` or a malformed tag matches nothing."""
    if header is None or header.strip() == "*":
        return None
    if "\x00" in header:
        raise InvalidInput("the If-Match header must be text without NUL (U+0000)")
    versions = []
    for tag in header.split(","):
        tag = tag.strip()
        if len(tag) >= 3 and tag[0] == tag[-1] == '"' and tag[1:-1].isascii():
            inner = tag[1:-1]
            if inner.isdigit() and len(inner) <= 9:
                versions.append(int(inner))
    return versions


async def edit_row(
    pool: Pool,
    owner_id: UUID,
    project_id: UUID,
    batch_id: UUID,
    row_id: UUID,
    patch: Mapping[str, Any],
    *,
    if_match: list[int] | None,
    max_chars: int,
) -> Row:
    """Change the given keys of one row (PATCH), re-validated at once; `if_match`: the
    versions it may have (None: any), else `PreconditionFailed`."""
    async with transaction(pool) as conn:
        await ownership.batch(conn, owner_id, project_id, batch_id)
        locked = await _locked_pending(conn, batch_id)
        checker = await edit_schema.for_batch(conn, locked)
        values = _converted(checker, patch_values(locked, patch, max_chars))
        keys, rules = await _rules(conn, locked, [values])
        row = await edit_store.edit_row(
            conn, locked.id, row_id, values, versions=if_match, actor_id=owner_id, rules=rules
        )
        if row is not None:
            if checker is None:
                return row
            await edit_schema.recheck(conn, locked.id, checker, keys)
            rechecked = await rows.get(conn, locked.id, row_id)
            assert rechecked is not None
            return rechecked
        state = await edit_store.row_state(conn, locked.id, row_id)
        if state is None or not state.live:
            raise missing_row(batch_id, row_id)
        raise PreconditionFailed(
            f"row {row_id} is at version {state.version}, not the one If-Match names: it "
            "changed since you read it; GET it again and redo your change"
        )


def missing_row(batch_id: UUID, row_id: UUID) -> NotFound:
    return NotFound(f"row {row_id} not found in batch {batch_id}")


class Replace(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    find: str
    replace: str
    match: Literal["exact", "contains"]


async def bulk_update(
    pool: Pool,
    owner_id: UUID,
    project_id: UUID,
    batch_id: UUID,
    where: BulkFilter,
    *,
    values: Mapping[str, Any] | None = None,
    replace: Replace | None = None,
    max_chars: int,
    seconds: float,
) -> tuple[Changed, Batch]:
    """Edit every live row that matches `where` in one set-based statement: merge `values`
    into it, or `replace` text in one key. Returns what changed and the batch after. The
    statement may run for `seconds` (a batch's rows, like its COPY, take longer than a
    request's statement timeout allows)."""
    async with transaction(pool) as conn:
        await ownership.batch(conn, owner_id, project_id, batch_id)
        locked = await _locked_pending(conn, batch_id)
        checker = await edit_schema.for_batch(conn, locked)
        await rows.allow_long_copy(conn, seconds)
        if where.field is not None:
            check_keys(locked, [where.field])
        if replace is not None:
            check_keys(locked, [replace.field])
            keys = [replace.field]
            exact = _converted(
                checker, {replace.field: cell_value(replace.field, replace.replace, max_chars)}
            )[replace.field]
            emptied = [replace.field] if not replace.replace.strip() else []
            warned = await edit_store.empty_warned_keys(conn, locked, emptied)
            changed = await edit_store.bulk_update(
                conn,
                locked.id,
                where,
                mode=replace.match,
                field=replace.field,
                find=replace.find,
                replacement=exact,
                replace_text=replace.replace,
                keys=keys,
                actor_id=owner_id,
                rules=edit_rules(locked, keys, warned),
                guard_seconds=seconds + 1,
            )
        else:
            assert values is not None
            cells = _converted(checker, patch_values(locked, values, max_chars))
            keys, rules = await _rules(conn, locked, [cells])
            changed = await edit_store.bulk_update(
                conn,
                locked.id,
                where,
                mode="set",
                values=cells,
                keys=keys,
                actor_id=owner_id,
                rules=rules,
                guard_seconds=seconds + 1,
            )
        if checker is not None and changed.rows_changed:
            await edit_schema.recheck(
                conn,
                locked.id,
                checker,
                keys,
                convert_keys=keys if replace is not None and replace.match == "contains" else (),
            )
        after = await batches.find_by_id(conn, locked.id)
        assert after is not None
        return changed, after


async def delete_row(
    pool: Pool, owner_id: UUID, project_id: UUID, batch_id: UUID, row_id: UUID
) -> None:
    """Soft-delete one live row of a batch pending review (out of its counts)."""
    async with transaction(pool) as conn:
        await ownership.batch(conn, owner_id, project_id, batch_id)
        locked = await _locked_pending(conn, batch_id)
        if not await edit_store.soft_delete_row(conn, locked.id, row_id, owner_id):
            raise missing_row(batch_id, row_id)


async def restore_row(
    pool: Pool, owner_id: UUID, project_id: UUID, batch_id: UUID, row_id: UUID
) -> Row:
    """Bring back a soft-deleted row of a batch pending review (into its counts); a row
    that is live already is answered as it is."""
    async with transaction(pool) as conn:
        await ownership.batch(conn, owner_id, project_id, batch_id)
        locked = await _locked_pending(conn, batch_id)
        await edit_store.restore_row(conn, locked.id, row_id, owner_id)
        row = await rows.get(conn, locked.id, row_id)
        if row is None:
            raise missing_row(batch_id, row_id)
        return row
