"""Domain entities: what the store returns and the service passes around.

Fields are snake_case and mirror the table columns; nullable columns are `X | None`
with no default, so a missing column is a bug that shows, not a silently absent key.
JSONB sub-documents (`ColumnMetadata`, `ValidationMessage`) keep the wire names of the
spec (camelCase) because that is how they are stored in the database too.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeAlias, TypeVar
from uuid import UUID

import msgspec


class ProjectStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class BatchMode(enum.StrEnum):
    LIST_MODE = "list_mode"
    PROFILE_MODE = "profile_mode"


class BatchStatus(enum.StrEnum):
    PENDING_REVIEW = "pending_review"
    COMPLETED = "completed"
    FAILED = "failed"


class RowStatus(enum.StrEnum):
    VALID = "valid"
    WARNING = "warning"
    ERROR = "error"


class DeliveryStatus(enum.StrEnum):
    """Where a row of a completed batch stands with the automation that consumes it."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    ERROR = "error"


class InferredType(enum.StrEnum):
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    EMAIL = "email"
    URL = "url"
    STRING = "string"
    EMPTY = "empty"


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    external_id: str
    email: str | None
    name: str | None
    created_at: datetime
    updated_at: datetime


class ErrorBudget(msgspec.Struct, frozen=True, kw_only=True):
    """How many error rows an upload to a project may have before it is failed at once
    (issue 18); a member that is None sets no limit."""

    max_error_rows: int | None = None
    max_error_ratio: float | None = None


class Project(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    user_id: UUID
    name: str
    description: str | None
    status: ProjectStatus
    max_error_rows: int | None
    max_error_ratio: float | None
    created_at: datetime
    updated_at: datetime

    @property
    def error_budget(self) -> ErrorBudget | None:
        if self.max_error_rows is None and self.max_error_ratio is None:
            return None
        return ErrorBudget(max_error_rows=self.max_error_rows, max_error_ratio=self.max_error_ratio)


class ColumnMetadata(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    normalized_key: str
    original_header: str
    inferred_type: InferredType
    position: int
    sheet_names: list[str] | None = None
    """Only in list-mode batches read from several sheets: where the column appears."""
    label: str | None = None
    """A display label set by the batch's owner (`PATCH …/columns`); absent until then."""
    # Only in list-mode batches of a project with a schema (issue 18, `ingest.matching`):
    # the field the column was matched to (`None`: kept under its own key), how, and how sure.
    target_field: str | msgspec.UnsetType | None = msgspec.UNSET
    matched_by: str | msgspec.UnsetType | None = msgspec.UNSET
    confidence: float | msgspec.UnsetType | None = msgspec.UNSET

    @property
    def data_key(self) -> str:
        """The key of the column's values in every row's data: its field's, if matched."""
        return self.target_field or self.normalized_key


class StatusCounts(msgspec.Struct, frozen=True, kw_only=True):
    """How many live rows of a batch have each status."""

    valid: int
    warning: int
    error: int


class DeliveryCounts(msgspec.Struct, frozen=True, kw_only=True):
    """How many live rows of a completed batch are in each delivery state (`in_progress`
    includes leases that ran out and wait to be claimed again)."""

    pending: int
    in_progress: int
    done: int
    error: int


class Batch(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    project_id: UUID
    user_id: UUID
    name: str
    mode: BatchMode
    status: BatchStatus
    file_count: int
    row_count: int
    column_metadata: list[ColumnMetadata]
    status_counts: StatusCounts
    identifier_field_key: str | None
    secondary_field_key: str | None
    delivery_counts: DeliveryCounts | None
    """Only for a completed batch: its rows have a delivery state from then on."""
    schema_version: int | None
    """The project schema version its rows were last validated with (issue 18)."""
    review_note: str | None
    """Why the service set its status itself (an upload over the project's error budget)."""
    created_at: datetime
    updated_at: datetime


class EventKind(enum.StrEnum):
    """What an audit event records (`ingestion_events.kind`, a dotted name: `<subject>.<change>`).

    Text in the database, so a new kind is a new member here and needs no migration. Before
    and after values by kind (JSON; absent means NULL):
    - `row.edited`, `row.bulk_edited`: `{key: value}` of the keys the edit changed, before and
      after (the first `before` of a key is its value as uploaded).
    - `row.deleted`, `row.restored`: none.
    - `batch.reviewed`: `{"status": …}` before and after.
    - `batch.deleted`, `batch.restored`: none, or `{"cascade": "project"}` after when the
      project's deletion or restore carried the batch.
    - `batch.settings_changed`: `{member: value}` of the settings the PATCH gave (`name`,
      `identifierFieldKey`, `secondaryFieldKey`), before and after.
    - `batch.columns_labelled`: `{key: label}` of the columns labelled (null: no label).
    - `row.delivery_claimed`: `{"status": …}` before (pending, or in_progress whose lease ran
      out), `{"status": "in_progress", "attempts": …, "leaseUntil": …}` after.
    - `row.delivery_reported`: `{"status", "message", "step"}` before and after.
    - `batch.revalidated`: `{"statusCounts", "schemaVersion"}` before (the version it was
      last validated with, or null) and after, with `changedRows` after.
    """

    ROW_EDITED = "row.edited"
    ROW_BULK_EDITED = "row.bulk_edited"
    ROW_DELETED = "row.deleted"
    ROW_RESTORED = "row.restored"
    BATCH_REVIEWED = "batch.reviewed"
    BATCH_DELETED = "batch.deleted"
    BATCH_RESTORED = "batch.restored"
    BATCH_SETTINGS_CHANGED = "batch.settings_changed"
    BATCH_COLUMNS_LABELLED = "batch.columns_labelled"
    ROW_DELIVERY_CLAIMED = "row.delivery_claimed"
    ROW_DELIVERY_REPORTED = "row.delivery_reported"
    BATCH_REVALIDATED = "batch.revalidated"


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the append-only audit trail: of a batch (`row_id` None) or of one row."""

    id: int
    batch_id: UUID
    row_id: UUID | None
    actor_id: UUID
    kind: EventKind
    before: Any
    after: Any
    created_at: datetime


class ValidationMessage(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    type: str
    message: str


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """A row's delivery state: what the last consumer reported (`message`, `step`), how many
    times it was claimed, and until when the current claim holds (`in_progress` only)."""

    status: DeliveryStatus
    message: str | None
    step: str | None
    attempts: int
    lease_until: datetime | None
    updated_at: datetime | None


class Row(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    batch_id: UUID
    position: int
    data: dict[str, Any] | msgspec.Raw
    status: RowStatus
    validation_messages: list[ValidationMessage] | msgspec.Raw
    source_file_name: str
    source_sheet_name: str
    source_row_index: int
    version: int
    """1 as copied, bumped by every change of the row (its ETag)."""
    delivery: Delivery | None
    """Only for a row of a completed batch."""
    created_at: datetime
    updated_at: datetime


Data = TypeVar("Data")
Messages = TypeVar("Messages")


class RowRecord(NamedTuple, Generic[Data, Messages]):
    """One ingestion row as the parser yields it (`ingest.ParsedRow`), the worker sends it
    (`ingestion.protocol.RowsFrame`) and COPY stores it: its batch's id, then these fields,
    make one record of `copy_rows` in `sql/rows.sql` (`CopyRecord`; a test holds that
    query's columns to these fields).

    A NamedTuple rather than a Struct because COPY consumes plain sequences: no per-row
    conversion is paid on the hot path of an upload. `data` and `validation_messages` are
    Python values in the parser and the worker's JSON bytes (`msgspec.Raw`) in the service,
    which the jsonb codec passes through as they are."""

    position: int
    """0-based ordinal of the row in the batch, in source order."""
    data: Data
    status: RowStatus
    validation_messages: Messages
    source_file_name: str
    source_sheet_name: str
    source_row_index: int


CopyRecord: TypeAlias = tuple[Any, ...]
"""A row on its way into `copy_records_to_table`: the batch id, then a `RowRecord`'s fields."""


class FieldStats(msgspec.Struct, frozen=True, kw_only=True):
    """How one key of a batch is filled, over its live rows."""

    key: str
    present_count: int
    empty_count: int
    distinct_count: int


class ValueCount(msgspec.Struct, frozen=True, kw_only=True):
    value: Any
    count: int


class ValuePage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of one key's distinct values and how many distinct values match in all."""

    total: int
    items: list[ValueCount]


class IdempotencyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What an earlier request with the same Idempotency-Key created, and the SHA-256 of
    that request (to tell a retry from a different request reusing the key)."""

    request_hash: bytes
    resource_id: UUID
