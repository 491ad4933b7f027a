"""Project schemas (issue 18): the fields a project's records must have, versioned.

A schema is a list of `SchemaField`s; each PUT makes a new immutable `ProjectSchema` version
(`store.project_schemas`). The Structs are domain entities that also cross the pipe to the
parsing worker (`ingestion.protocol.Request.schema`), and `SchemaField` is stored in the
database as the JSON of the wire (camelCase), like `entities.ColumnMetadata`.

How values are converted to a field's type and checked against its rules is `service.rules`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec


class FieldType(enum.StrEnum):
    """The types a field may declare: spec §4.4's list, without `empty`."""

    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    EMAIL = "email"
    URL = "url"
    STRING = "string"


class Severity(enum.StrEnum):
    """What a field's rule failures make of a row: `error` (the default) or `warning`."""

    ERROR = "error"
    WARNING = "warning"


class AnchorDirection(enum.StrEnum):
    RIGHT = "right"
    BELOW = "below"


class FieldAnchor(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Where a profile-mode form holds a field's value: a fixed `cell` (`{"cell": "B2"}`), or
    the first non-empty cell in `direction` after the cell whose text, normalized as a key,
    equals `label`'s, skipping `skip` non-empty cells (`{"label", "direction", "skip"}`)."""

    cell: str | None = None
    label: str | None = None
    direction: AnchorDirection | None = None
    skip: int = 0


Bound = int | float | str
"""A `min`/`max`: a number for `integer`/`number` fields, ISO text for `date` (`YYYY-MM-DD`),
`datetime` (`YYYY-MM-DDTHH:MM:SS`) and `time` (`HH:MM:SS`) fields."""

EnumValue = str | int | float | bool


class SchemaField(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """One field of a project schema. Defaults are what a field that leaves a member out
    gets: type `string`, not required, not unique, no other rule, severity `error`."""

    key: str
    """Normalized as a key (spec §4.3): what the field is called in every row's data."""
    label: str | None = None
    type: FieldType = FieldType.STRING
    required: bool = False
    """An empty value, or no column for the field at all, is a `required` message."""
    unique: bool = False
    """A value repeated within one batch is a `unique` message on every row holding it."""
    enum: list[EnumValue] | None = None
    """The allowed values (after conversion to `type`)."""
    pattern: str | None = None
    """A regular expression (RE2 syntax, linear time) the text of the value must contain a
    match for, as in JSON Schema: anchor it with `^…$` for a whole-value match."""
    min: Bound | None = None
    max: Bound | None = None
    min_length: int | None = None
    max_length: int | None = None
    """Bounds on the length of the value's text, in characters."""
    aliases: list[str] = msgspec.field(default_factory=list)
    """Other headers that mean this field (matched after normalizing them as keys)."""
    severity: Severity = Severity.ERROR
    anchor: FieldAnchor | None = None


class ProjectSchema(msgspec.Struct, frozen=True, kw_only=True):
    """One immutable version of a project's schema."""

    project_id: UUID
    version: int
    """1, 2, …: one more for each PUT."""
    fields: list[SchemaField]
    created_by: UUID
    created_at: datetime
    retired_at: datetime | None
    """When `DELETE …/schema` turned schemas off (every version then has it); a version
    with it is never the current schema."""


MAX_FIELDS = 1000
"""Most fields in one schema: `SHEETFLOW_MAX_COLUMNS`' default, the most columns a sheet has."""
MAX_KEY_CHARS = 100
MAX_TEXT_CHARS = 1000
"""Longest label, alias, enum text or pattern."""
MAX_ENUM_VALUES = 1000
MAX_ALIASES = 50
MAX_LENGTH_BOUND = 1 << 20
"""Largest `minLength`/`maxLength` (cells are at most 32,767 characters anyway)."""
