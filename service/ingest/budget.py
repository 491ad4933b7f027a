"""The characters a batch's rows may hold: `max_row_chars` per row, `max_batch_chars` in all.

A small file can become huge rows: one long shared string repeated in thousands of cells of
an xlsx (a few KiB on disk, each copy stored in full), or long headers, whose keys every row
of the batch carries. So the rows are measured as they are built, by their keys and their
text values (numbers, booleans and nulls are short, and bounded by the column limit): a row
past `max_row_chars`, or the row that takes the batch past `max_batch_chars`, stops the
upload with a 422 naming its file, sheet and row.

Measured per chunk of rows with C-level maps; rows are looked at one by one only in a chunk
where one of them could be over the limit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from service import errors
from service.settings import Settings

_is_text = str.__instancecheck__


def text_chars(values: Sequence[Any]) -> int:
    """Characters of the text values among `values`."""
    try:
        # Most columns hold text and nulls only: joined, their length is one memcpy away.
        return len("".join(filter(None, values)))
    except TypeError:  # numbers, booleans (or dates as text) among them
        return sum(map(len, filter(_is_text, values)))


def no_text(raw: Sequence[Any], type_counts: Mapping[type, int]) -> int | None:
    """0 for a chunk of workbook cells that can give no text (floats and booleans, which
    stay JSON numbers and booleans, and blank cells), else None: count the values."""
    blanks = type_counts.get(str, 0)
    if type_counts.keys() - {str} <= _NOT_TEXT and (not blanks or raw.count("") == blanks):
        return 0
    return None


_NOT_TEXT = frozenset({float, bool})
"""Workbook cell types whose values are never text (an int may be: past 2^53 it is kept as
text; dates are ISO text)."""


class CharBudget:
    """The characters of one batch's rows so far, against the limits. `key_chars`: the
    characters of the batch's keys, which every row carries."""

    def __init__(self, settings: Settings, key_chars: int) -> None:
        self.max_row = settings.max_row_chars
        self.max_batch = settings.max_batch_chars
        self.key_chars = key_chars
        self.used = 0

    def take(
        self,
        columns: Sequence[Sequence[Any]],
        numbers: Sequence[int],
        file: str,
        sheet: str,
        known: Sequence[int | None] | None = None,
    ) -> None:
        """Count a chunk of rows, given as its columns' values (`numbers`: their row numbers
        in the sheet); raise `LimitExceeded` for the first row over a limit. `known`: per
        column, its characters where the caller knows them already (else None)."""
        count = len(numbers)
        if known is None:
            totals = [text_chars(values) for values in columns]
        else:
            totals = [
                text_chars(values) if chars is None else chars
                for chars, values in zip(known, columns, strict=True)
            ]
        text = sum(totals)
        if self.key_chars + text > self.max_row and self._may_hold_a_long_row(columns, totals):
            for index, chars in enumerate(self._per_row(columns, count)):
                if chars > self.max_row:
                    raise self._row_too_long(file, sheet, numbers[index], chars)
        chunk = text + self.key_chars * count
        if self.used + chunk > self.max_batch:
            used = self.used
            for index, chars in enumerate(self._per_row(columns, count)):
                used += chars
                if used > self.max_batch:
                    raise self._batch_too_big(file, sheet, numbers[index])
        self.used += chunk

    def _may_hold_a_long_row(self, columns: Sequence[Sequence[Any]], totals: list[int]) -> bool:
        """Whether the chunk may hold a row over `max_row`: no row holds more than its keys
        plus the longest value of each column. The columns' totals bound that too, so the
        longest values are looked for in the fullest columns first, only until it is clear."""
        bound = self.key_chars + sum(totals)
        for total, values in sorted(
            zip(totals, columns, strict=True), key=itemgetter(0), reverse=True
        ):
            bound -= total - max(map(len, filter(_is_text, values)), default=0)
            if bound <= self.max_row:
                return False
        return True

    def take_row(self, values: Sequence[Any], file: str, sheet: str, row: int) -> None:
        """Count one row given as its values (a profile-mode row)."""
        self.take([[value] for value in values], [row], file, sheet)

    def _per_row(self, columns: Sequence[Sequence[Any]], count: int) -> list[int]:
        lengths = [[len(v) if type(v) is str else 0 for v in values] for values in columns]
        if not lengths:
            return [self.key_chars] * count
        return [self.key_chars + sum(row) for row in zip(*lengths, strict=True)]

    def _row_too_long(self, file: str, sheet: str, row: int, chars: int) -> errors.LimitExceeded:
        return errors.LimitExceeded(
            f"In {file!r}, sheet {sheet!r}, row {row} holds {chars:,} characters (its keys and "
            f"text); the limit is {self.max_row:,} characters per row",
            limit="max_row_chars",
            value=self.max_row,
            file=file,
            sheet=sheet,
            row=row,
        )

    def _batch_too_big(self, file: str, sheet: str, row: int) -> errors.LimitExceeded:
        return errors.LimitExceeded(
            f"In {file!r}, sheet {sheet!r}, the rows up to row {row} hold more than "
            f"{self.max_batch:,} characters (their keys and text), the limit per batch",
            limit="max_batch_chars",
            value=self.max_batch,
            file=file,
            sheet=sheet,
            row=row,
        )
