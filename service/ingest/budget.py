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

from collections.abc import Sequence
from typing import Any

from service import errors
from service.settings import Settings

_is_text = str.__instancecheck__


def text_chars(values: Sequence[Any]) -> int:
    """Characters of the text values among `values`."""
    return sum(map(len, filter(_is_text, values)))


class CharBudget:
    """The characters of one batch's rows so far, against the limits. `key_chars`: the
    characters of the batch's keys, which every row carries."""

    def __init__(self, settings: Settings, key_chars: int) -> None:
        self.max_row = settings.max_row_chars
        self.max_batch = settings.max_batch_chars
        self.key_chars = key_chars
        self.used = 0

    def take(
        self, columns: Sequence[Sequence[Any]], numbers: Sequence[int], file: str, sheet: str
    ) -> None:
        """Count a chunk of rows, given as its columns' values (`numbers`: their row numbers
        in the sheet); raise `LimitExceeded` for the first row over a limit."""
        count = len(numbers)
        totals = [text_chars(values) for values in columns]
        text = sum(totals)
        chunk = text + self.key_chars * count
        # No row of the chunk can hold more than its keys plus the longest value of each column.
        if (
            self.key_chars + text > self.max_row
            and self.key_chars
            + sum(max(map(len, filter(_is_text, values)), default=0) for values in columns)
            > self.max_row
        ):
            for index, chars in enumerate(self._per_row(columns, count)):
                if chars > self.max_row:
                    raise self._row_too_long(file, sheet, numbers[index], chars)
        if self.used + chunk > self.max_batch:
            used = self.used
            for index, chars in enumerate(self._per_row(columns, count)):
                used += chars
                if used > self.max_batch:
                    raise self._batch_too_big(file, sheet, numbers[index])
        self.used += chunk

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
