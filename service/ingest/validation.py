"""Validation messages of a row and the status they give it (spec §4.5).

Messages keep the seed's shape, `{"field", "type", "message"}`. Their types:

| type            | level   | when                                                           |
|-----------------|---------|----------------------------------------------------------------|
| `cell_error`    | error   | the cell holds an Excel error (`#DIV/0!`, `#N/A`…); value null |
| `sanitized`     | warning | the value was repaired to fit JSON/jsonb (see `values`)        |
| `type_mismatch` | warning | the value does not fit its column's inferred type              |
| `empty`         | warning | no value, in a column filled in at least 95 % of its rows      |
| `extra_cells`   | warning | a CSV record has non-empty cells past its header's columns     |

A row's status is `error` if any message is an error, else `warning` if it has any
message, else `valid`. Messages are ordered by column, and for one cell in the order of
the table; `extra_cells` comes last. Its `field` is the key the first dropped cell would
have had under a blank header (`column_e`), since the cell has no key of its own.

Messages are frozen Structs, so the ones that do not depend on the value (`empty`,
`type_mismatch`) are built once per column and shared by every row that needs them.
"""

from __future__ import annotations

from service.entities import InferredType, RowStatus, ValidationMessage
from service.ingest.keys import cell_address, column_letter

CELL_ERROR = "cell_error"
SANITIZED = "sanitized"
TYPE_MISMATCH = "type_mismatch"
EMPTY = "empty"
EXTRA_CELLS = "extra_cells"

_TYPE_NAMES = {
    InferredType.INTEGER: "an integer",
    InferredType.NUMBER: "a number",
    InferredType.BOOLEAN: "a boolean (true/false)",
    InferredType.DATE: "a date (YYYY-MM-DD or DD/MM/YYYY)",
    InferredType.DATETIME: "a date and time (YYYY-MM-DDTHH:MM:SS)",
    InferredType.TIME: "a time (HH:MM:SS)",
    InferredType.EMAIL: "an email address",
    InferredType.URL: "a URL",
}


def empty(key: str) -> ValidationMessage:
    return ValidationMessage(field=key, type=EMPTY, message="Empty field")


def type_mismatch(key: str, type_: InferredType) -> ValidationMessage:
    expected = _TYPE_NAMES.get(type_, str(type_))
    return ValidationMessage(
        field=key,
        type=TYPE_MISMATCH,
        message=f"Expected {expected}, the column's inferred type",
    )


def cell_error(key: str, error: str, row: int, column: int) -> ValidationMessage:
    return ValidationMessage(
        field=key,
        type=CELL_ERROR,
        message=f"Excel error {error} in cell {cell_address(row, column)}",
    )


def sanitized(key: str, detail: str) -> ValidationMessage:
    return ValidationMessage(field=key, type=SANITIZED, message=detail)


def extra_cells(first_column: int, count: int, header_width: int) -> ValidationMessage:
    letter = column_letter(first_column)
    cells = "1 cell" if count == 1 else f"{count} cells"
    return ValidationMessage(
        field=f"column_{letter.lower()}",
        type=EXTRA_CELLS,
        message=(
            f"{cells} past the header's {header_width} columns dropped "
            f"(the first in column {letter})"
        ),
    )


def status(messages: list[ValidationMessage], has_error: bool) -> RowStatus:
    if has_error:
        return RowStatus.ERROR
    return RowStatus.WARNING if messages else RowStatus.VALID
