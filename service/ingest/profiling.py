"""Pass 1 of an ingestion: stream each file once, keeping only constant-size facts per
column (see `parse` for why), and describe how pass 2 is to read the files again."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from service import errors
from service.entities import BatchMode, ColumnMetadata
from service.ingest import delimited, formats, guards, keys, limits, plans, workbook
from service.ingest.delimited import TextDialect
from service.ingest.formats import FileFormat
from service.ingest.guards import ErrorCells
from service.ingest.inference import ColumnStats
from service.ingest.keys import KeyAllocator, cell_address, column_letter
from service.ingest.plans import FilePlan, Profile, SheetPlan, Source
from service.ingest.values import CellTooLong, header_text, prepare_text
from service.settings import Settings


class _SheetFacts:
    """What pass 1 gathers about one list-mode sheet."""

    __slots__ = ("error_cells", "first_column", "header_row", "headers", "name", "rows", "stats")

    def __init__(
        self,
        name: str,
        header_row: int,
        first_column: int,
        headers: list[str],
        error_cells: dict[str, str],
    ) -> None:
        self.name = name
        self.header_row = header_row
        self.first_column = first_column
        self.headers = headers
        self.stats = [ColumnStats() for _ in headers]
        self.rows = 0
        self.error_cells = error_cells


class ListProfiler:
    """Pass 1 of list mode: the header and column facts of every sheet of one file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.row_count = 0

    def run(
        self, source: Source, sheet: str | None, error_cells: ErrorCells | None = None
    ) -> Profile:
        """`error_cells`: what `guards.inspect_archive` found in this workbook, when the
        caller has already inspected it (the inspection reads the whole archive)."""
        fmt = formats.open_source(source, self.settings)
        dialect: TextDialect | None = None
        if fmt is FileFormat.CSV:
            dialect, facts = self._csv(source)
        else:
            facts = self._workbook(source, fmt, sheet, error_cells)
        columns: list[_BatchColumn] = []
        by_key: dict[str, int] = {}
        plans = []
        for sheet_facts in facts:
            keys = _merge_columns(sheet_facts, columns, by_key)
            plans.append(
                SheetPlan(
                    name=sheet_facts.name,
                    header_row=sheet_facts.header_row,
                    first_column=sheet_facts.first_column,
                    keys=keys,
                    rows=sheet_facts.rows,
                    error_cells=sheet_facts.error_cells,
                )
            )
        several_sheets = len(plans) > 1
        return Profile(
            mode=BatchMode.LIST_MODE,
            columns=[
                ColumnMetadata(
                    normalized_key=column.key,
                    original_header=column.header,
                    inferred_type=column.stats.inferred_type,
                    position=position,
                    sheet_names=column.sheets if several_sheets else None,
                )
                for position, column in enumerate(columns)
            ],
            row_count=self.row_count,
            warn_empty=[column.stats.mostly_filled for column in columns],
            check_types=[column.stats.misfits > 0 for column in columns],
            files=[FilePlan(name=source.name, format=fmt, dialect=dialect, sheets=plans)],
        )

    def _csv(self, source: Source) -> tuple[TextDialect, list[_SheetFacts]]:
        dialect = delimited.csv_dialect(source)
        name = delimited.csv_sheet_name(source.name)
        with delimited.open_text(source.path, dialect) as stream:
            rows = delimited.csv_rows(stream, dialect, source.name)
            try:
                facts = self._sheet(
                    source.name,
                    name,
                    rows,
                    0,
                    {},
                    text=True,
                    surrogates=dialect.may_carry_surrogates,
                )
            except delimited.TooLongField as error:
                raise limits.too_long(
                    source.name, name, error.row, None, None, self.settings
                ) from None
        if facts is None:
            raise no_header(source.name, csv=True, sheet=None)
        return dialect, [facts]

    def _workbook(
        self,
        source: Source,
        fmt: FileFormat,
        sheet: str | None,
        error_cells: ErrorCells | None,
    ) -> list[_SheetFacts]:
        if error_cells is None:
            error_cells = guards.inspect_workbook(source.path, source.name, fmt, self.settings)
        facts = []
        with workbook.Workbook(source.path, source.name) as book:
            for name in book.select(sheet, first_only=False):
                loaded = book.load(name, self.settings)
                errors_here = error_cells.get(name, {})
                loaded.hold_errors(errors_here)
                rows = loaded.rows()
                sheet_facts = self._sheet(
                    source.name,
                    name,
                    rows,
                    loaded.first_column,
                    errors_here,
                    text=False,
                    surrogates=False,
                )
                if sheet_facts is not None:
                    facts.append(sheet_facts)
                del loaded, rows
        if not facts:
            raise no_header(source.name, csv=False, sheet=sheet)
        return facts

    def _sheet(
        self,
        file: str,
        name: str,
        rows: Iterator[tuple[int, list[Any]]],
        first_column: int,
        error_cells: dict[str, str],
        *,
        text: bool,
        surrogates: bool,
    ) -> _SheetFacts | None:
        header = next(rows, None)
        if header is None:
            return None
        header_row, header_cells = header
        headers = check_header(file, name, header_row, first_column, header_cells, self.settings)
        facts = _SheetFacts(name, header_row, first_column, headers, error_cells)
        width = len(headers)
        settings = self.settings
        limit = settings.max_rows
        while chunk := list(itertools.islice(rows, plans.CHUNK_ROWS)):
            counted = self.row_count
            self.row_count += len(chunk)
            if self.row_count > limit:
                raise limits.too_many_rows(file, name, chunk[limit - counted][0], settings)
            numbers, block = zip(*chunk, strict=True)
            if text and set(map(len, block)) != {width}:
                block = tuple(delimited.fit_record(cells, width) for cells in block)
            self._add_block(facts, block, numbers, file, text=text, surrogates=surrogates)
        return facts

    def _add_block(
        self,
        facts: _SheetFacts,
        block: Sequence[list[Any]],
        numbers: Sequence[int],
        file: str,
        *,
        text: bool,
        surrogates: bool,
    ) -> None:
        facts.rows += len(block)
        max_chars = self.settings.max_cell_chars
        columns = zip(*block, strict=True)
        for offset, (stats, values) in enumerate(zip(facts.stats, columns, strict=True)):
            try:
                if text:
                    stats.add_text(prepare_text(values, max_chars, surrogates=surrogates))
                else:
                    stats.add_cells(values, max_chars)
            except CellTooLong as error:
                raise limits.too_long(
                    file,
                    facts.name,
                    numbers[error.index],
                    facts.first_column + offset,
                    error.length,
                    self.settings,
                ) from None


def check_header(
    file: str,
    sheet: str,
    header_row: int,
    first_column: int,
    cells: Sequence[Any],
    settings: Settings,
) -> list[str]:
    """The header texts of a sheet, once its cells and width are within the limits."""
    headers = [header_text(cell) for cell in cells]
    for offset, header_cell in enumerate(headers):
        if len(header_cell.strip()) > settings.max_cell_chars:
            raise limits.too_long(
                file, sheet, header_row, first_column + offset, len(header_cell.strip()), settings
            )
    width = len(headers)
    if first_column + width > settings.max_columns:  # workbooks are checked on loading
        last = column_letter(first_column + width - 1)
        raise errors.LimitExceeded(
            f"Sheet {sheet!r} of {file!r} has {width:,} columns (up to column {last}); "
            f"the limit is {settings.max_columns:,}",
            limit="max_columns",
            value=settings.max_columns,
            file=file,
            sheet=sheet,
            row=header_row,
            column=last,
        )
    return headers


class _BatchColumn:
    __slots__ = ("header", "key", "sheets", "stats")

    def __init__(self, key: str, header: str, stats: ColumnStats, sheet: str) -> None:
        self.key = key
        self.header = header
        self.stats = stats
        self.sheets = [sheet]


def _merge_columns(
    facts: _SheetFacts, columns: list[_BatchColumn], by_key: dict[str, int]
) -> list[int]:
    """Give the sheet's columns their keys and fold them into the batch's columns; returns
    the batch column index of each column of the sheet."""
    allocator = KeyAllocator()
    indexes = []
    for offset, (header, stats) in enumerate(zip(facts.headers, facts.stats, strict=True)):
        key = allocator.allocate(header, facts.first_column + offset)
        index = by_key.get(key)
        if index is None:
            index = by_key[key] = len(columns)
            columns.append(_BatchColumn(key, header, stats, facts.name))
        else:
            columns[index].stats.merge(stats)
            columns[index].sheets.append(facts.name)
        indexes.append(index)
    return indexes


class FormProfiler:
    """Pass 1 of profile mode: every non-empty cell of each form is a key."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stats: dict[tuple[int, int], ColumnStats] = {}

    def run(self, sources: Sequence[Source], sheet: str | None) -> Profile:
        settings = self.settings
        if len(sources) > settings.max_rows:
            raise errors.LimitExceeded(
                f"{len(sources)} forms make {len(sources)} rows; "
                f"the limit is {settings.max_rows:,}",
                limit="max_rows",
                value=settings.max_rows,
            )
        plans = [self._file(source, sheet) for source in sources]
        if not self.stats:
            names = ", ".join(repr(source.name) for source in sources)
            raise errors.CorruptFile(
                f"{names}: no form has any data (every cell is empty)",
                file=sources[0].name if len(sources) == 1 else None,
            )
        positions = sorted(self.stats)
        columns = []
        for position, (row, column) in enumerate(positions):
            stats = self.stats[row, column]
            stats.rows = len(sources)  # every row carries every key
            address = cell_address(row, column)
            columns.append(
                ColumnMetadata(
                    normalized_key=address,
                    original_header=address,
                    inferred_type=stats.inferred_type,
                    position=position,
                )
            )
        return Profile(
            mode=BatchMode.PROFILE_MODE,
            columns=columns,
            row_count=len(sources),
            warn_empty=[self.stats[position].mostly_filled for position in positions],
            check_types=[self.stats[position].misfits > 0 for position in positions],
            files=plans,
        )

    def _file(self, source: Source, sheet: str | None) -> FilePlan:
        fmt = formats.open_source(source, self.settings)
        if fmt is FileFormat.CSV:
            dialect = delimited.csv_dialect(source)
            sheet_plan = self._csv(source, dialect)
            return FilePlan(name=source.name, format=fmt, dialect=dialect, sheets=[sheet_plan])
        error_cells = guards.inspect_workbook(source.path, source.name, fmt, self.settings)
        with workbook.Workbook(source.path, source.name) as book:
            (name,) = book.select(sheet, first_only=True)
            loaded = book.load(name, self.settings)
            errors_here = error_cells.get(name, {})
            loaded.hold_errors(errors_here)
            cells = self._cells(source.name, name, loaded.rows(), loaded.first_column)
            first_column = loaded.first_column
            del loaded
        for address in errors_here:
            cells.setdefault(keys.split_address(address), "")
        self._add(source.name, name, cells)
        return FilePlan(
            name=source.name,
            format=fmt,
            dialect=None,
            sheets=[
                SheetPlan(
                    name=name,
                    header_row=0,
                    first_column=first_column,
                    keys=[],
                    rows=1,
                    error_cells=errors_here,
                )
            ],
        )

    def _csv(self, source: Source, dialect: TextDialect) -> SheetPlan:
        name = delimited.csv_sheet_name(source.name)
        with delimited.open_text(source.path, dialect) as stream:
            try:
                cells = self._cells(
                    source.name, name, delimited.csv_rows(stream, dialect, source.name), 0
                )
            except delimited.TooLongField as error:
                raise limits.too_long(
                    source.name, name, error.row, None, None, self.settings
                ) from None
        self._add(source.name, name, cells, surrogates=dialect.may_carry_surrogates)
        return SheetPlan(name=name, header_row=0, first_column=0, keys=[], rows=1, error_cells={})

    def _cells(
        self, file: str, sheet: str, rows: Iterator[tuple[int, list[Any]]], first_column: int
    ) -> dict[tuple[int, int], Any]:
        """The non-empty cells of one form, by (row, column)."""
        limit = self.settings.max_columns
        cells: dict[tuple[int, int], Any] = {}
        for number, row in rows:
            for offset, value in enumerate(row):
                if type(value) is str and (not value or value.isspace()):
                    continue
                cells[number, first_column + offset] = value
            if len(cells) > limit:
                raise errors.LimitExceeded(
                    f"Sheet {sheet!r} of {file!r} has more than {limit:,} non-empty cells by "
                    f"row {number}; in profile_mode each one is a column, and the limit is "
                    f"{limit:,} columns",
                    limit="max_columns",
                    value=limit,
                    file=file,
                    sheet=sheet,
                    row=number,
                )
        return cells

    def _add(
        self, file: str, sheet: str, cells: dict[tuple[int, int], Any], *, surrogates: bool = False
    ) -> None:
        limit = self.settings
        for position, value in cells.items():
            stats = self.stats.get(position)
            if stats is None:
                if len(self.stats) >= limit.max_columns:
                    raise errors.LimitExceeded(
                        f"The forms have more than {limit.max_columns:,} distinct non-empty cells "
                        f"by {file!r}; in profile_mode each one is a column",
                        limit="max_columns",
                        value=limit.max_columns,
                        file=file,
                        sheet=sheet,
                    )
                stats = self.stats[position] = ColumnStats()
            try:
                if type(value) is str:
                    stats.add_text(
                        prepare_text([value], limit.max_cell_chars, surrogates=surrogates)
                    )
                else:
                    stats.add_cells([value], limit.max_cell_chars)
            except CellTooLong as error:
                raise limits.too_long(
                    file, sheet, position[0], position[1], error.length, limit
                ) from None


def no_header(file: str, *, csv: bool, sheet: str | None) -> errors.CorruptFile:
    """The error for an upload with no header row to read: an empty CSV file, or a workbook
    whose visible sheets (or the `sheet` asked for) are all empty."""
    if csv:
        return errors.CorruptFile(f"{file!r} has no header row: it is empty", file=file)
    if sheet is None:
        return errors.CorruptFile(f"{file!r} has no data: every visible sheet is empty", file=file)
    return errors.CorruptFile(f"Sheet {sheet!r} of {file!r} is empty", file=file, sheet=sheet)
