"""The shapes that cross between the two passes of a read and out of the engine.

`Profile` is what pass 1 learns and pass 2 needs; it is a msgspec Struct so that it can
cross a process boundary. `ParsedRow` is what pass 2 yields (an `entities.RowRecord`).
`Source` is one uploaded file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import msgspec

from service.entities import BatchMode, ColumnMetadata, RowRecord, ValidationMessage
from service.ingest.delimited import TextDialect
from service.ingest.formats import FileFormat
from service.schemas import SchemaField

CHUNK_ROWS = 2048
"""Rows handled together: enough to amortise per-chunk work, small enough to stay flat."""

UNLIMITED = 1 << 62
"""A character limit that never bites: pass 2 of a two-pass read re-reads values that pass 1
already measured."""


class Source(NamedTuple):
    path: Path
    """The spooled upload on disk."""
    name: str
    """The client's file name (`sourceFileName`), UTF-8 kept intact."""


ParsedRow: TypeAlias = RowRecord[dict[str, Any], list[ValidationMessage]]
"""One ingestion row as the parser yields it, its `data` and messages as Python values."""


class SheetPlan(msgspec.Struct, frozen=True, kw_only=True):
    """How pass 2 reads one sheet."""

    name: str
    header_row: int
    """Real row number of the header; 0 in profile mode."""
    first_column: int
    """0-based column of the sheet's first cell (CSV: 0)."""
    keys: list[int]
    """Per column of the sheet, from `first_column` on: index of its column in
    `Profile.columns`. Empty in profile mode."""
    rows: int
    error_cells: dict[str, str]
    """A1 address → Excel error text, for the cells calamine reads as empty."""


class FilePlan(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    format: FileFormat
    dialect: TextDialect | None
    """Encoding and delimiter of a CSV file."""
    sheets: list[SheetPlan]


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    """What pass 1 learned: the batch's columns and everything pass 2 needs."""

    mode: BatchMode
    columns: list[ColumnMetadata]
    """One per key, in column order, with inferred types."""
    row_count: int
    warn_empty: list[bool]
    """Per column: filled in at least 95 % of its rows, so an empty value is a warning."""
    check_types: list[bool]
    """Per column: pass 1 saw values that do not fit the inferred type, so pass 2 looks
    for them (a column where everything fits needs no per-value check at all)."""
    files: list[FilePlan]
    fields: list[SchemaField] | None = None
    """Profile mode with a schema: the fields each form is read into by their anchors
    (`anchors`); the columns are then these fields."""
