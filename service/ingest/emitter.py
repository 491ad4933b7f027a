"""Validated `ParsedRow`s, built in chunks: pass 2 of a two-pass read, using the column facts
of pass 1, and the body of a one-pass read, which hands each chunk to a `Tracker` (see
`parse`)."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
import operator
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from service import errors
from service.entities import InferredType, RowRecord, RowStatus, ValidationMessage
from service.ingest import anchors, delimited, keys, limits, plans, validation, workbook
from service.ingest.amendments import Tracker
from service.ingest.budget import CharBudget, no_text
from service.ingest.conforming import Conformer
from service.ingest.formats import FileFormat
from service.ingest.inference import FITTING_KINDS, cell_kind, classify_text, text_misfits
from service.ingest.keys import jsonb_order
from service.ingest.plans import FilePlan, ParsedRow, Profile, SheetPlan, Source
from service.ingest.values import (
    MAX_SAFE_INTEGER,
    SURROGATES_REPLACED,
    CellTooLong,
    convert_cell,
    has_surrogates,
    prepare_text,
    replace_surrogates,
)
from service.schemas import ProjectSchema
from service.settings import Settings

UNLIMITED = 1 << 62
"""A character limit that never bites: pass 2 of a two-pass read re-reads values that pass 1
already measured."""


class _Column(NamedTuple):
    """Pass 2's view of one column of a sheet."""

    offset: int
    """Position within the sheet's rows."""
    key: str
    type: InferredType
    check_type: bool
    warn_empty: bool
    empty: ValidationMessage
    mismatch: ValidationMessage


class Emitter:
    """Pass 2: turns each file of a profile into ParsedRows, numbered in source order."""

    def __init__(
        self, profile: Profile, settings: Settings, schema: ProjectSchema | None = None
    ) -> None:
        self.profile = profile
        self.settings = settings
        self.keys = [column.data_key for column in profile.columns]
        # Every row's data holds its keys in jsonb's order (see `keys.jsonb_order`): the
        # order PostgreSQL stores and returns them in anyway.
        self.stored_order = jsonb_order(self.keys)
        self.stored_keys = [self.keys[index] for index in self.stored_order]
        self.template: dict[str, Any] = dict.fromkeys(self.stored_keys)
        self.position = 0
        self.budget = CharBudget(settings, sum(map(len, self.keys)))
        self.conformer = None if schema is None else Conformer(self.keys, schema)

    def list_file(self, source: Source, plan: FilePlan) -> Iterator[list[ParsedRow]]:
        if plan.format is FileFormat.CSV:
            assert plan.dialect is not None  # pass 1 sets it for every CSV file
            (sheet,) = plan.sheets
            with delimited.open_text(source.path, plan.dialect) as stream:
                rows = delimited.csv_rows(stream, plan.dialect, source.name)
                yield from self._sheet(
                    source.name,
                    sheet,
                    rows,
                    text=True,
                    surrogates=plan.dialect.may_carry_surrogates,
                )
            return
        with workbook.Workbook(source.path, source.name) as book:
            for sheet in plan.sheets:
                loaded = book.load(sheet.name, self.settings)
                loaded.hold_errors(sheet.error_cells)
                sheet_rows = loaded.rows()
                del loaded
                yield from self._sheet(source.name, sheet, sheet_rows, text=False, surrogates=False)
                del sheet_rows

    def _sheet(
        self,
        file: str,
        plan: SheetPlan,
        rows: Iterator[tuple[int, list[Any]]],
        *,
        text: bool,
        surrogates: bool,
    ) -> Iterator[list[ParsedRow]]:
        header = next(rows, None)
        if header is None or header[0] != plan.header_row:
            raise errors.CorruptFile(f"{file!r} changed while it was being read", file=file)
        yield from self.body(file, plan, rows, text=text, surrogates=surrogates)

    def body(
        self,
        file: str,
        plan: SheetPlan,
        rows: Iterator[tuple[int, list[Any]]],
        *,
        text: bool,
        surrogates: bool,
        tracker: Tracker | None = None,
    ) -> Iterator[list[ParsedRow]]:
        """The rows of a sheet after its header, in chunks. With a `tracker` (a one-pass read),
        cell lengths are checked here and every chunk's facts are handed to the tracker."""
        columns = [self._column(offset, index) for offset, index in enumerate(plan.keys)]
        sheet_keys = [column.key for column in columns]
        errors_by_row: dict[int, list[tuple[int, int, str]]] = {}
        for address, error in plan.error_cells.items():
            row, absolute = keys.split_address(address)
            offset = absolute - plan.first_column
            if 0 <= offset < len(plan.keys):
                errors_by_row.setdefault(row, []).append((offset, absolute, error))
        block = _Block(
            self, file, plan, columns, sheet_keys, errors_by_row, text, surrogates, tracker
        )
        width = len(plan.keys)
        while chunk := list(itertools.islice(rows, plans.CHUNK_ROWS)):
            numbers, cells = zip(*chunk, strict=True)
            extra: dict[int, ValidationMessage] = {}
            if text and set(map(len, cells)) != {width}:
                for index, record in enumerate(cells):
                    if len(record) > width:
                        message = _extra_cells(record, width)
                        if message is not None:
                            extra[index] = message
                cells = tuple(delimited.fit_record(record, width) for record in cells)
            yield list(block.flush(cells, numbers, extra))

    def _column(self, offset: int, index: int) -> _Column:
        metadata = self.profile.columns[index]
        key, type_ = metadata.data_key, metadata.inferred_type
        return _Column(
            offset=offset,
            key=key,
            type=type_,
            check_type=self.profile.check_types[index],
            warn_empty=self.profile.warn_empty[index],
            empty=validation.empty(key),
            mismatch=validation.type_mismatch(key, type_),
        )

    def form(self, source: Source, plan: FilePlan) -> ParsedRow:
        (sheet,) = plan.sheets
        if plan.format is FileFormat.CSV:
            assert plan.dialect is not None
            surrogates = plan.dialect.may_carry_surrogates
            with delimited.open_text(source.path, plan.dialect) as stream:
                cells = _form_cells(delimited.csv_rows(stream, plan.dialect, source.name), 0)
        else:
            surrogates = False
            with workbook.Workbook(source.path, source.name) as book:
                loaded = book.load(sheet.name, self.settings)
                loaded.hold_errors(sheet.error_cells)
                cells = _form_cells(loaded.rows(), loaded.first_column)
                del loaded
        errors_at = {
            keys.split_address(address): error for address, error in sheet.error_cells.items()
        }
        if self.profile.fields is not None:
            data, messages, has_error = anchors.read_form(
                cells, errors_at, self.profile.fields, self.template
            )
            if surrogates:
                data = {
                    key: replace_surrogates(value)
                    if type(value) is str and has_surrogates(value)
                    else value
                    for key, value in data.items()
                }
            return self._form_row(source, sheet, data, messages, has_error)
        data = self.template.copy()
        messages = []
        has_error = False
        for index, metadata in enumerate(self.profile.columns):
            key = metadata.normalized_key
            position = keys.split_address(key)
            raw = cells.get(position)
            if raw is None:
                error = errors_at.get(position)
                if error is not None:
                    messages.append(validation.cell_error(key, error, *position))
                    has_error = True
                elif self.profile.warn_empty[index]:
                    messages.append(validation.empty(key))
                continue
            value, repaired = convert_cell(raw)
            if surrogates and type(value) is str and has_surrogates(value):
                value = replace_surrogates(value)
                repaired = f"{repaired}; {SURROGATES_REPLACED}" if repaired else SURROGATES_REPLACED
            data[key] = value
            if repaired:
                messages.append(validation.sanitized(key, repaired))
            if value is None:
                if self.profile.warn_empty[index]:
                    messages.append(validation.empty(key))
                continue
            type_ = metadata.inferred_type
            kind = classify_text(value) if type(raw) is str else cell_kind(raw)
            if kind not in FITTING_KINDS[type_]:
                messages.append(validation.type_mismatch(key, type_))
        if self.conformer is not None and self.conformer.record(data, messages):
            has_error = True
        return self._form_row(source, sheet, data, messages, has_error)

    def _form_row(
        self,
        source: Source,
        sheet: SheetPlan,
        data: dict[str, Any],
        messages: list[ValidationMessage],
        has_error: bool,
    ) -> ParsedRow:
        self.budget.take_row(list(data.values()), source.name, sheet.name, 1)
        row: ParsedRow = RowRecord(
            self.position,
            data,
            validation.status(messages, has_error),
            messages,
            source.name,
            sheet.name,
            1,
        )
        self.position += 1
        return row


def _form_cells(
    rows: Iterator[tuple[int, list[Any]]], first_column: int
) -> dict[tuple[int, int], Any]:
    cells: dict[tuple[int, int], Any] = {}
    for number, row in rows:
        for offset, value in enumerate(row):
            if type(value) is str and (not value or value.isspace()):
                continue
            cells[number, first_column + offset] = value
    return cells


_new_row = functools.partial(tuple.__new__, RowRecord)
"""Builds a ParsedRow from one iterable in C, without NamedTuple's Python `__new__`."""


def _extra_cells(record: list[str], width: int) -> ValidationMessage | None:
    filled = [offset for offset, cell in enumerate(record[width:], width) if cell.strip()]
    if not filled:
        return None
    return validation.extra_cells(filled[0], len(filled), width)


class _Block:
    """Turns chunks of up to `plans.CHUNK_ROWS` rows of one sheet into ParsedRows."""

    def __init__(
        self,
        emitter: Emitter,
        file: str,
        plan: SheetPlan,
        columns: list[_Column],
        sheet_keys: list[str],
        errors_by_row: dict[int, list[tuple[int, int, str]]],
        text: bool,
        surrogates: bool,
        tracker: Tracker | None,
    ) -> None:
        self.emitter = emitter
        self.file = file
        self.plan = plan
        self.columns = columns
        self.sheet_keys = sheet_keys
        self.same_shape = sheet_keys == emitter.keys
        self.errors_by_row = errors_by_row
        self.text = text
        self.surrogates = surrogates
        self.tracker = tracker
        self.max_chars = UNLIMITED if tracker is None else emitter.settings.max_cell_chars

    def flush(
        self,
        cells: Sequence[list[Any]],
        numbers: Sequence[int],
        extra: dict[int, ValidationMessage],
    ) -> Iterator[ParsedRow]:
        count = len(numbers)
        messages: dict[int, list[ValidationMessage]] = {}
        failed: set[int] = set()
        errors_here = self._errors_in_block(numbers) if self.errors_by_row else {}
        value_columns: list[list[Any]] = []
        text_chars: list[int | None] = []  # per column, where the text chunk tells it for free
        raw_columns = list(zip(*cells, strict=True))
        tracker = self.tracker
        conformer = self.emitter.conformer
        for index_in_sheet, column in enumerate(self.columns):
            raw = raw_columns[column.offset]
            checked_type = column.type if column.check_type else InferredType.STRING
            try:
                if self.text:
                    chunk = prepare_text(raw, self.max_chars, surrogates=self.surrogates)
                    text_chars.append(len(chunk.block) - count + 1)  # less the newlines
                    values: list[Any] = [value or None for value in chunk.values]
                    repaired = chunk.repaired
                    misfits = text_misfits(chunk, checked_type)
                    has_empty = chunk.filled < count
                    if tracker is not None:
                        tracker.text(index_in_sheet, chunk)
                else:
                    type_counts = Counter(map(type, raw))
                    if tracker is not None:
                        tracker.cells(index_in_sheet, raw, type_counts)
                    values, repaired, misfits = _workbook_values(raw, checked_type, type_counts)
                    text_chars.append(no_text(raw, type_counts))
                    has_empty = None in values
            except CellTooLong as error:
                raise limits.too_long(
                    self.file,
                    self.plan.name,
                    numbers[error.index],
                    self.plan.first_column + column.offset,
                    error.length,
                    self.emitter.settings,
                ) from None
            value_columns.append(values)
            for index, detail in repaired.items():
                messages.setdefault(index, []).append(validation.sanitized(column.key, detail))
            for index in misfits:
                messages.setdefault(index, []).append(column.mismatch)
            errors_of_column = errors_here.get(column.offset)
            if has_empty and column.warn_empty:
                for index, value in enumerate(values):
                    if value is None and not (errors_of_column and index in errors_of_column):
                        messages.setdefault(index, []).append(column.empty)
            if errors_of_column:
                for index, message in errors_of_column.items():
                    messages.setdefault(index, []).append(message)
                    failed.add(index)
            if conformer is not None:
                value_columns[-1] = conformer.column(column.key, values, messages, failed)
        if conformer is not None:
            conformer.rows(count, messages, failed)
        self.emitter.budget.take(value_columns, numbers, self.file, self.plan.name, text_chars)
        for index, message in extra.items():
            messages.setdefault(index, []).append(message)
        if tracker is not None:
            tracker.chunk(self.emitter.position, numbers, value_columns, messages, failed)
        return self._rows(value_columns, numbers, messages, failed)

    def _rows(
        self,
        value_columns: list[list[Any]],
        numbers: Sequence[int],
        messages: dict[int, list[ValidationMessage]],
        failed: set[int],
    ) -> Iterator[ParsedRow]:
        # Built with map/zip so that no Python code runs per row on the usual path.
        emitter, count = self.emitter, len(numbers)
        start = emitter.position
        emitter.position += count
        data: Iterator[dict[str, Any]]
        if not value_columns:
            data = map(dict.copy, itertools.repeat(emitter.template, count))
        elif self.same_shape:
            stored = [value_columns[index] for index in emitter.stored_order]
            data = map(
                dict, map(zip, itertools.repeat(emitter.stored_keys), zip(*stored, strict=True))
            )
        else:
            data = (
                {**emitter.template, **dict(zip(self.sheet_keys, row, strict=True))}
                for row in zip(*value_columns, strict=True)
            )
        statuses: Sequence[RowStatus] | Iterator[RowStatus]
        message_lists: Sequence[list[ValidationMessage]] | Iterator[list[ValidationMessage]]
        if messages:
            statuses = [RowStatus.VALID] * count
            message_lists = list(map(list, itertools.repeat((), count)))
            for index, row_messages in messages.items():
                message_lists[index] = row_messages
                statuses[index] = RowStatus.ERROR if index in failed else RowStatus.WARNING
        else:
            statuses = itertools.repeat(RowStatus.VALID, count)
            message_lists = map(list, itertools.repeat((), count))
        return map(
            _new_row,
            zip(
                range(start, start + count),
                data,
                statuses,
                message_lists,
                itertools.repeat(self.file, count),
                itertools.repeat(self.plan.name, count),
                numbers,
                strict=False,
            ),
        )

    def _errors_in_block(self, numbers: Sequence[int]) -> dict[int, dict[int, ValidationMessage]]:
        """Column offset → row index in the block → its `cell_error` message."""
        found: dict[int, dict[int, ValidationMessage]] = {}
        keys = {column.offset: column.key for column in self.columns}
        for index, number in enumerate(numbers):
            for offset, absolute, error in self.errors_by_row.get(number, ()):
                found.setdefault(offset, {})[index] = validation.cell_error(
                    keys[offset], error, number, absolute
                )
        return found


def _workbook_values(
    raw: Sequence[Any], type_: InferredType, type_counts: Counter[type]
) -> tuple[list[Any], dict[int, str], list[int]]:
    """JSON values of a chunk of workbook cells (of which `type_counts` counts the Python
    types), their repairs, and the indexes of the values that do not fit `type_` (pass
    `STRING` to skip that check)."""
    if len(type_counts) == 1 and str in type_counts:
        chunk = prepare_text(raw, UNLIMITED, surrogates=False)
        return [value or None for value in chunk.values], chunk.repaired, text_misfits(chunk, type_)
    check = type_ is not InferredType.STRING and type_ is not InferredType.EMPTY
    if not check:
        values = _typed_values(raw, type_counts)
        if values is not None:
            return values, {}, []
    fitting = FITTING_KINDS[type_]
    values = []
    repaired: dict[int, str] = {}
    misfits = []
    for index, cell in enumerate(raw):
        value, detail = convert_cell(cell)
        values.append(value)
        if detail is not None:
            repaired[index] = detail
        if check and value is not None:
            kind = classify_text(value) if type(cell) is str else cell_kind(cell)
            if kind not in fitting:
                misfits.append(index)
    return values, repaired, misfits


_ISOFORMAT = operator.methodcaller("isoformat")


def _typed_values(raw: Sequence[Any], type_counts: Counter[type]) -> list[Any] | None:
    """JSON values of a chunk of one type of workbook value plus blank cells, converted
    with C-level maps; `None` when the chunk needs `convert_cell` cell by cell."""
    blanks = type_counts.get(str, 0)
    if blanks and raw.count("") != blanks:
        return None
    kinds = [kind for kind in type_counts if kind is not str]
    if kinds == [dt.datetime, dt.date] or kinds == [dt.date, dt.datetime]:
        kinds = [dt.datetime]  # calamine reads a midnight date-time as a date
    if len(kinds) != 1:
        return None
    (kind,) = kinds
    typed = [value for value in raw if value != ""] if blanks else raw
    converted: list[Any]
    if kind is float:
        if not all(map(math.isfinite, typed)) or not (
            min(typed) >= -MAX_SAFE_INTEGER and max(typed) <= MAX_SAFE_INTEGER
        ):
            return None
        if all(map(float.is_integer, typed)):
            converted = list(map(int, typed))
        else:
            converted = [int(value) if value.is_integer() else value for value in typed]
    elif kind is bool:
        converted = list(typed)
    elif kind in (dt.date, dt.datetime, dt.time):
        # Whole seconds already (what calamine gives): isoformat is the shape we want.
        microseconds = map(getattr, typed, itertools.repeat("microsecond"), itertools.repeat(0))
        if kind is not dt.date and any(microseconds):
            return None
        converted = list(map(_ISOFORMAT, typed))
    else:
        return None
    if not blanks:
        return converted
    shaped = iter(converted)
    return [None if value == "" else next(shaped) for value in raw]
