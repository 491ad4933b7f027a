"""Amendments: the messages that a one-pass read can give a row only after the last row.

`type_mismatch` needs the column's inferred type and `empty` needs its fill rate, both
known once every value of the column has been seen. A one-pass read (see `parse`) sends
each row on at once with the messages it can already give (`sanitized`, `cell_error`,
`extra_cells`), while a `Tracker` counts every column's kinds and writes down, chunk by
chunk, which kind of value each cell held. The record is compact and goes to a temporary
file, so memory stays flat: a chunk of a column whose values are all of one kind and never
empty (most of them) is one number; otherwise it is one byte per cell.

After the last row, `Tracker.amendments` replays that record against the final column facts
and yields an `Amendment` (the row's complete messages and status) for just the rows that gain
a message. By the 95 % rule those are few: the values that do not fit a typed column, and the
empty cells of a column that is otherwise filled. Their messages are ordered as a two-pass
read orders them: by column, and within a column `sanitized`, `type_mismatch`, `empty`,
`cell_error`; `extra_cells` last.
"""

from __future__ import annotations

import itertools
import operator
import pickle
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from service.entities import InferredType, RowStatus, ValidationMessage
from service.ingest import limits, validation
from service.ingest.inference import (
    FITTING_KINDS,
    INTEGER,
    KIND_COUNT,
    KIND_OF_TYPE,
    NUMBER,
    ColumnStats,
    cell_kind,
    classify_text,
)
from service.ingest.values import MAX_SAFE_INTEGER, TextChunk
from service.settings import Settings

EMPTY = 255
"""The kind byte of an empty cell."""

_ORDER = {
    validation.SANITIZED: 0,
    validation.TYPE_MISMATCH: 1,
    validation.EMPTY: 2,
    validation.CELL_ERROR: 3,
}
_FLAGGED = re.compile(b"[^\x00]")
_MISFIT, _EMPTY_WARNING = 1, 2


class Amendment(NamedTuple):
    """The final status and messages of a row already sent."""

    position: int
    status: RowStatus
    validation_messages: list[ValidationMessage]
    previous: RowStatus
    """The status it was sent with."""


class _Chunk(NamedTuple):
    """What the tracker writes down about one chunk of rows."""

    start: int
    """Position of its first row in the batch."""
    size: int
    kinds: list[int | bytes]
    """Per column: the one kind of all its values (`EMPTY`: all empty), or one byte per cell."""
    messages: dict[int, list[ValidationMessage]]
    """Row index in the chunk → the messages it was sent with."""
    failed: set[int]
    """Row indexes in the chunk sent as errors."""


class Tracker:
    """Column facts and the per-cell record of a one-pass read of one sheet."""

    def __init__(self, file: str, sheet: str, keys: Sequence[str], settings: Settings) -> None:
        self.file = file
        self.sheet = sheet
        self.keys = list(keys)
        self.settings = settings
        self.stats = [ColumnStats() for _ in keys]
        self.rows = 0
        self._pending: list[tuple[list[int], Sequence[Any], bool]] = [([], (), True)] * len(keys)
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115  # see `close`

    def close(self) -> None:
        """Drop the record (`amendments` does it once it has been read)."""
        self._spool.close()

    def text(self, column: int, chunk: TextChunk) -> None:
        self._pending[column] = (self.stats[column].add_text(chunk), chunk.values, True)

    def cells(self, column: int, raw: Sequence[Any], type_counts: Counter[type]) -> None:
        counts = self.stats[column].add_cells(raw, self.settings.max_cell_chars, type_counts)
        self._pending[column] = (counts, raw, False)

    def chunk(
        self,
        start: int,
        numbers: Sequence[int],
        value_columns: list[list[Any]],
        messages: dict[int, list[ValidationMessage]],
        failed: set[int],
    ) -> None:
        """Record a chunk whose columns were all given to `text` or `cells`."""
        count = len(numbers)
        self.rows += count
        if start + count > self.settings.max_rows:
            number = numbers[self.settings.max_rows - start]
            raise limits.too_many_rows(self.file, self.sheet, number, self.settings)
        kinds = [
            _kinds(counts, source, values, text=text)
            for (counts, source, text), values in zip(self._pending, value_columns, strict=True)
        ]
        pickle.dump(
            _Chunk(start, count, kinds, messages, failed), self._spool, pickle.HIGHEST_PROTOCOL
        )

    def amendments(
        self, types: Sequence[InferredType], warn_empty: Sequence[bool]
    ) -> Iterator[Amendment]:
        """The rows that gain a message once the columns' types and fill rates are final."""
        check = [
            type_ is not InferredType.STRING and type_ is not InferredType.EMPTY for type_ in types
        ]
        flags = [
            _flag_table(FITTING_KINDS[type_] if check_type else None, warn)
            for type_, check_type, warn in zip(types, check, warn_empty, strict=True)
        ]
        needed = any(
            (check_type and stats.misfits) or (warn and stats.filled < stats.rows)
            for stats, check_type, warn in zip(self.stats, check, warn_empty, strict=True)
        )
        mismatch = [
            validation.type_mismatch(key, type_)
            for key, type_ in zip(self.keys, types, strict=True)
        ]
        empty = [validation.empty(key) for key in self.keys]
        order = {key: column for column, key in enumerate(self.keys)}
        spool = self._spool
        try:
            if not needed:
                return
            spool.seek(0)
            while True:
                try:
                    chunk: _Chunk = pickle.load(spool)
                except EOFError:
                    return
                yield from _amend(chunk, flags, mismatch, empty, order)
        finally:
            self.close()


def _kinds(
    counts: list[int], source: Sequence[Any], values: list[Any], *, text: bool
) -> int | bytes:
    """One column's record for a chunk: its single kind, or one kind byte per cell."""
    present = [kind for kind in range(KIND_COUNT) if counts[kind]]
    filled = sum(counts)
    if not filled:
        return EMPTY
    if len(present) == 1:
        if filled == len(values):
            return present[0]
        mask = bytes(map(operator.is_not, values, itertools.repeat(None)))
        return mask.translate(_MASK_TO_KIND[present[0]])
    if text:
        return bytes(classify_text(value) if value else EMPTY for value in source)
    by_type = _kinds_by_type(source, values)
    if by_type is not None:
        return by_type
    return bytes(
        EMPTY if value is None else classify_text(value) if type(cell) is str else cell_kind(cell)
        for cell, value in zip(source, values, strict=True)
    )


_FLOAT = 254
_KIND_OF_TYPE: dict[type, int] = {str: EMPTY, float: _FLOAT, **KIND_OF_TYPE}
_INTEGRAL_TO_KIND = bytes([NUMBER, INTEGER]) + bytes(254)


def _kinds_by_type(raw: Sequence[Any], values: list[Any]) -> bytes | None:
    """Kind bytes of a chunk of workbook cells from their Python types alone, without Python
    code per cell, when that is exact: text only in blank cells, and numbers only in chunks
    of finite numbers within ±2^53 (a whole number is an integer); else `None`."""
    try:
        kinds = bytes(map(_KIND_OF_TYPE.__getitem__, map(type, raw)))
    except KeyError:
        return None
    if values.count(None) != kinds.count(EMPTY):
        return None  # text that is not blank, or a number that is not finite
    floats = kinds.count(_FLOAT)
    if not floats:
        return kinds
    if floats != len(kinds) or not (min(raw) >= -MAX_SAFE_INTEGER and max(raw) <= MAX_SAFE_INTEGER):
        return None
    return bytes(map(float.is_integer, raw)).translate(_INTEGRAL_TO_KIND)


_MASK_TO_KIND = [bytes([EMPTY, kind]) + bytes(254) for kind in range(KIND_COUNT)]
"""`bytes.translate` tables turning a filled (1) / empty (0) mask into kind bytes."""


def _flag_table(fitting: frozenset[int] | None, warn_empty: bool) -> bytes:
    """A `bytes.translate` table from kind bytes to what each cell earns: a mismatch, an
    `empty` warning, or nothing (0)."""
    table = bytearray(256)
    if fitting is not None:
        for kind in range(KIND_COUNT):
            if kind not in fitting:
                table[kind] = _MISFIT
    if warn_empty:
        table[EMPTY] = _EMPTY_WARNING
    return bytes(table)


def _amend(
    chunk: _Chunk,
    flags: list[bytes],
    mismatch: list[ValidationMessage],
    empty: list[ValidationMessage],
    order: dict[str, int],
) -> Iterator[Amendment]:
    gained: dict[int, list[ValidationMessage]] = {}
    for column, kinds in enumerate(chunk.kinds):
        table = flags[column]
        indexes: Iterable[int]
        per_cell: Iterable[int]
        if isinstance(kinds, int):
            flag = table[kinds]
            if not flag:
                continue
            indexes, per_cell = range(chunk.size), itertools.repeat(flag)
        else:
            cell_flags = kinds.translate(table)
            indexes = [match.start() for match in _FLAGGED.finditer(cell_flags)]
            if not indexes:
                continue
            per_cell = [cell_flags[index] for index in indexes]
        for index, flag in zip(indexes, per_cell, strict=False):
            if flag == _EMPTY_WARNING and _has_cell_error(chunk.messages.get(index), column, order):
                continue
            gained.setdefault(index, []).append(
                mismatch[column] if flag == _MISFIT else empty[column]
            )
    for index, added in gained.items():
        sent = chunk.messages.get(index, [])
        messages = sorted([*sent, *added], key=lambda message: _sort_key(message, order))
        failed = index in chunk.failed
        yield Amendment(
            chunk.start + index,
            RowStatus.ERROR if failed else RowStatus.WARNING,
            messages,
            RowStatus.ERROR if failed else RowStatus.WARNING if sent else RowStatus.VALID,
        )


def _has_cell_error(
    messages: list[ValidationMessage] | None, column: int, order: dict[str, int]
) -> bool:
    return bool(messages) and any(
        message.type == validation.CELL_ERROR and order.get(message.field) == column
        for message in messages or ()
    )


def _sort_key(message: ValidationMessage, order: dict[str, int]) -> tuple[int, int]:
    """Messages of a column in the order of the table above, then a schema's rule messages
    (`service.rules`, in the order they were given); a required field no column gives, and
    `extra_cells`, after every column."""
    if message.type == validation.EXTRA_CELLS:
        return (len(order) + 1, 0)
    return (order.get(message.field, len(order)), _ORDER.get(message.type, len(_ORDER)))
