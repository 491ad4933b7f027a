"""A batch's settings, changed by its owner beside its review: the display name, the keys that
identify a row to a person (`identifierFieldKey`, `secondaryFieldKey`) and the columns'
labels. Keys are the batch's own and never change: a setting that names another key is
`Unprocessable` (422 naming the member). A PATCH that also reviews the batch changes nothing
when the review is refused (one transaction). Each change appends its event
(`batch.settings_changed`, `batch.reviewed`, `batch.columns_labelled`) in its transaction."""

from __future__ import annotations

import unicodedata
from typing import Any
from uuid import UUID

import msgspec

from service import ownership
from service.db import Connection, Pool, transaction
from service.entities import Batch, BatchStatus, EventKind
from service.errors import InvalidTransition, Unprocessable
from service.store import batches, events
from service.store.batches import Settings

MAX_NAME_CHARS = 255
"""The longest name a batch takes (`PATCH`'s `name` says the same in its schema)."""

UNNAMED = "batch"
"""The default name of a batch whose first file's name has nothing visible left."""


def default_name(file_name: str) -> str:
    """A batch's first name, from its first file's name, made safe as a name the owner could
    give (`PATCH`'s `name`): without control or format characters (C0/C1 controls, and the
    bidirectional overrides and isolates that would make it read as another name), without
    surrounding spaces, and cut at `MAX_NAME_CHARS`; `UNNAMED` when nothing visible is left."""
    kept = "".join(_name_character(char) for char in file_name)
    name = kept.strip()[:MAX_NAME_CHARS].strip()
    return name or UNNAMED


def _name_character(char: str) -> str:
    """What a character of a file name becomes in a batch's name: a control that is a space
    (a tab, a line break) a space, any other control or format character (bidi controls,
    zero-width characters) or lone surrogate nothing, the rest itself."""
    category = unicodedata.category(char)
    if category in ("Cf", "Cs"):
        return ""
    if category == "Cc":
        return " " if char.isspace() else ""
    return char


KEY_MEMBERS = {
    "identifier_field_key": "identifierFieldKey",
    "secondary_field_key": "secondaryFieldKey",
}
"""The settings that name a key, and their names on the wire."""


async def change(
    pool: Pool,
    owner_id: UUID,
    project_id: UUID,
    batch_id: UUID,
    *,
    settings: Settings,
    status: BatchStatus | None = None,
) -> Batch:
    """Apply `settings` and, with `status`, review the batch, all or nothing; the batch as it
    is then. `InvalidTransition` (409) when the review is not allowed."""
    async with transaction(pool) as conn:
        batch = await _locked(conn, owner_id, project_id, batch_id)
        keys = _data_keys(batch)
        for attribute, member in KEY_MEMBERS.items():
            key = getattr(settings, attribute)
            if key is not msgspec.UNSET and key is not None and key not in keys:
                raise Unprocessable(
                    f"{member}: the batch has no key {key!r} (the keys its rows hold: each "
                    "column's targetField when it has one, else its normalizedKey)",
                    field=member,
                )
        changed: Batch | None = batch
        if settings.changes_anything():
            changed = await batches.update_settings(conn, batch.id, settings)
            if changed is None:  # deleted since it was read
                raise ownership.missing_batch(project_id, batch_id)
            before, after = _settings_change(batch, changed, settings)
            await events.append(
                conn,
                batch_id=batch.id,
                actor_id=owner_id,
                kind=EventKind.BATCH_SETTINGS_CHANGED,
                before=before,
                after=after,
            )
        if status is not None:
            changed = await batches.review(conn, batch.id, status)
            if changed is None:
                current = await ownership.batch(conn, owner_id, project_id, batch_id)
                raise InvalidTransition(
                    f"batch {batch_id} is {current.status}, which is final: only a batch "
                    "pending review can be completed or failed"
                )
            await events.append(
                conn,
                batch_id=batch.id,
                actor_id=owner_id,
                kind=EventKind.BATCH_REVIEWED,
                before={"status": batch.status},
                after={"status": changed.status},
            )
        assert changed is not None
        return changed


async def _locked(conn: Connection, owner_id: UUID, project_id: UUID, batch_id: UUID) -> Batch:
    """The batch, locked against other changes until the transaction ends, so that what a
    change records as `before` is what it changed (concurrent changes take turns)."""
    if not await batches.lock_for_owner(conn, owner_id, project_id, batch_id):
        raise ownership.missing_batch(project_id, batch_id)
    return await ownership.batch(conn, owner_id, project_id, batch_id)


def _data_keys(batch: Batch) -> set[str]:
    """The keys the batch's rows hold their values under (a matched column's field's)."""
    return {column.data_key for column in batch.column_metadata}


WIRE_NAMES = {"name": "name", **KEY_MEMBERS}


def _settings_change(
    old: Batch, new: Batch, settings: Settings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings the PATCH gave, as they were and as they are, by their wire names."""
    given = [name for name in WIRE_NAMES if getattr(settings, name) is not msgspec.UNSET]
    return (
        {WIRE_NAMES[name]: getattr(old, name) for name in given},
        {WIRE_NAMES[name]: getattr(new, name) for name in given},
    )


async def label_columns(
    pool: Pool, owner_id: UUID, project_id: UUID, batch_id: UUID, labels: dict[str, str | None]
) -> Batch:
    """Set (or, with None, clear) the labels of the columns named by the keys their values
    are under in the rows (`ColumnMetadata.data_key`: the field's key for a column matched to
    the project schema, as `identifierFieldKey` and `where.<key>` take them); an unknown key
    is `Unprocessable` and changes nothing."""
    async with transaction(pool) as conn:
        batch = await _locked(conn, owner_id, project_id, batch_id)
        keys = _data_keys(batch)
        for key in labels:
            if key not in keys:
                raise Unprocessable(
                    f"{key}: the batch has no such key (the keys its rows hold: each column's "
                    "targetField when it has one, else its normalizedKey; keys cannot be "
                    "changed, only labelled)",
                    field=key,
                )
        if not labels:
            return batch
        before = {column.data_key: column.label for column in batch.column_metadata}
        labelled = await batches.label_columns(conn, batch.id, labels)
        if labelled is None:
            raise ownership.missing_batch(project_id, batch_id)
        await events.append(
            conn,
            batch_id=batch.id,
            actor_id=owner_id,
            kind=EventKind.BATCH_COLUMNS_LABELLED,
            before={key: before[key] for key in labels},
            after=labels,
        )
        return labelled
