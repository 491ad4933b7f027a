"""Forms read by their labels (issue 18, item 6): where a profile-mode form holds each field.

A field's anchor is a fixed cell (`{"cell": "B2"}`) or a label (`{"label": "Nome:",
"direction": "right" | "below", "skip": 0}`). For a label, the value is the first non-empty
cell in `direction` after the first cell, in reading order (row by row, left to right), whose
text normalized as a key (spec §4.3) equals the label's, `skip` non-empty cells left out
first. So `Nome:`, `NOME` and `nome` all find the label `Nome`, wherever the form puts it,
and a form that moves its labels around between versions is read the same.

With a schema, a profile-mode batch's columns are the schema's fields, in its order
(`form_profile`), and each form's row holds each field's value converted and checked by the
field's rules (`read_form`): a field whose label is not in the form, or that has no anchor, is
`None`, with the field's `required` message when it is required. The cells no anchor points at
are not kept: the schema says what a form is for. Without a schema, profile mode is unchanged
(every non-empty cell under its address).

Pure: `locate` takes a form's non-empty cells as `{(row, column): raw value}` (1-based rows,
0-based columns, as `emitter` collects them) and answers, per field, the position of its value
or `None` when the label (or the cell) is not there, or nothing non-empty follows it. A
field without an anchor has no value in a form. A label is text: only string cells are
compared with it. Cost: one pass over the cells to index the labels and the cells per row and
per column, then one bisection per field.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from service import rules
from service.entities import ColumnMetadata, InferredType, ValidationMessage
from service.ingest import validation
from service.ingest.keys import normalize_key, split_address
from service.ingest.plans import Profile
from service.ingest.values import convert_cell
from service.schemas import AnchorDirection, FieldAnchor, SchemaField

Position = tuple[int, int]
"""(1-based row, 0-based column)."""

CELL_ADDRESS = re.compile(r"[A-Z]{1,3}[1-9][0-9]{0,6}", re.ASCII)
"""An A1 address a worksheet can have (columns to XFD, rows to 1,048,576, both within these
digits); a `cell` anchor that is not one points at nothing."""


class AnchoredField(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def anchor(self) -> FieldAnchor | None: ...


class FormIndex:
    """A form's cells, indexed for anchors: the first position of each label text, and the
    sorted non-empty positions of every row and every column."""

    def __init__(self, cells: Mapping[Position, Any]) -> None:
        self.cells = cells
        self.labels: dict[str, Position] = {}
        rows: dict[int, list[int]] = {}
        columns: dict[int, list[int]] = {}
        for row, column in sorted(cells):
            value = cells[row, column]
            if type(value) is str:
                self.labels.setdefault(normalize_key(value), (row, column))
            rows.setdefault(row, []).append(column)
            columns.setdefault(column, []).append(row)
        self.rows = rows
        self.columns = columns

    def find(self, anchor: FieldAnchor) -> Position | None:
        """The position of the value `anchor` points at, or `None`."""
        if anchor.cell is not None:
            address = anchor.cell.upper()
            if not CELL_ADDRESS.fullmatch(address):
                return None
            position = split_address(address)
            return position if position in self.cells else None
        label = normalize_key(anchor.label or "")
        found = self.labels.get(label) if label else None
        if found is None:
            return None
        row, column = found
        skip = max(anchor.skip, 0)
        if anchor.direction is AnchorDirection.BELOW:
            rows = self.columns[column]
            index = bisect.bisect_right(rows, row) + skip
            return (rows[index], column) if index < len(rows) else None
        columns = self.rows[row]
        index = bisect.bisect_right(columns, column) + skip
        return (row, columns[index]) if index < len(columns) else None


def locate(
    cells: Mapping[Position, Any], fields: Iterable[AnchoredField]
) -> dict[str, Position | None]:
    """Field key → position of its value in the form, or `None` (see the module)."""
    index = FormIndex(cells)
    return {
        field.key: None if field.anchor is None else index.find(field.anchor) for field in fields
    }


def form_profile(profile: Profile, fields: Sequence[SchemaField]) -> Profile:
    """Pass 1's profile of the forms, its columns replaced by the schema's fields."""
    columns = [
        ColumnMetadata(
            normalized_key=field.key,
            original_header=field.label or field.key,
            inferred_type=InferredType(field.type.value),
            position=position,
        )
        for position, field in enumerate(fields)
    ]
    unused = [False] * len(columns)
    return msgspec.structs.replace(
        profile, columns=columns, warn_empty=unused, check_types=unused, fields=list(fields)
    )


def read_form(
    cells: Mapping[Position, Any],
    error_cells: Mapping[Position, str],
    fields: Sequence[SchemaField],
    template: dict[str, Any],
) -> tuple[dict[str, Any], list[ValidationMessage], bool]:
    """One form's row: its data keyed by field, its messages, and whether it has an error."""
    data = template.copy()
    messages: list[ValidationMessage] = []
    has_error = False
    found = locate({**dict.fromkeys(error_cells, ""), **cells}, fields)
    for field in fields:
        position = found[field.key]
        raw = None if position is None else cells.get(position)
        if position is not None and raw is None and position in error_cells:
            messages.append(validation.cell_error(field.key, error_cells[position], *position))
            has_error = True
            continue
        value, repaired = (None, None) if raw is None else convert_cell(raw)
        if repaired:
            messages.append(validation.sanitized(field.key, repaired))
        value, problems = rules.validate(field, value)
        data[field.key] = value
        if problems:
            messages.extend(problems)
            has_error = has_error or rules.is_error(field)
    return data, messages, has_error
