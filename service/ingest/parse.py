"""The ingestion engine: one read of the uploaded files, streamed row by row (spec §4).

`Parser` reads an upload in one pass or two (its docstring says which and why) and yields
validated rows in source order, then the late amendments, then the batch's `Profile`;
`precheck` runs only the checks that come before parsing. Modes, keys, CSV naming and the
errors raised are spelled out beside `Parser` too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from service import errors
from service.entities import BatchMode, ColumnMetadata, InferredType
from service.ingest import (
    anchors,
    delimited,
    formats,
    guards,
    limits,
    parts,
    profiling,
    workbook,
)
from service.ingest.amendments import Amendment, Tracker
from service.ingest.delimited import TextDialect
from service.ingest.emitter import Emitter
from service.ingest.formats import FileFormat
from service.ingest.keys import KeyAllocator
from service.ingest.matching import ColumnMatch, Matching
from service.ingest.plans import FilePlan, ParsedRow, Profile, SheetPlan, Source
from service.ingest.profiling import FormProfiler, ListProfiler, check_header
from service.schemas import ProjectSchema
from service.settings import Settings


class Parser:
    """One read of an upload: iterate `chunks()` to the end, then `amendments()`; `profile`
    holds the batch's final columns and row count once the rows are done.

    Each row must reach the database as soon as it is read, so that parsing and COPY overlap
    from the first row; yet two checks depend on facts about a whole column that are only known
    after its last value: `type_mismatch` needs the column's inferred type, and `empty` needs
    to know whether the column is filled in at least 95 % of its rows. `Parser` settles this
    in one of two ways:

    - **One pass** (list mode over one sheet: any CSV file, or a workbook with one visible
      worksheet or a `sheet` named; the common case and the big one). Rows are sent at once
      with the messages known so far, while `amendments.Tracker` counts each column's kinds and
      records, compactly and on disk, which kind each cell held. After the last row,
      `Parser.amendments` yields the final messages and status of just the rows that gain a
      `type_mismatch` or `empty` message (few, by the 95 % rule), and the caller updates those
      rows. So every row is written once, except the rows those two checks flag, which are
      written a second time; memory stays flat.
    - **Two passes** (a workbook read from several sheets, and profile mode). The batch's keys
      are the union over every sheet or form, and every row must carry every key, so no row can
      be sent before every sheet has been seen. `profile` (pass 1) streams the files once,
      keeping constant-size facts per column (kind counts, fill counts) plus how to read each
      file again; `parse_rows` (pass 2) streams them again and yields every row with its final
      messages. There are no amendments.

    Either way memory stays flat whatever the number of rows: a CSV is read a record at a time,
    values are processed in chunks of `plans.CHUNK_ROWS` rows. The exception is calamine,
    which holds one whole sheet at a time (see `workbook`). `Profile` is a msgspec Struct, so it
    can cross a process boundary.

    Modes (spec §4.2):

    - `list_mode`: exactly one file, else `InvalidInput`. Every visible worksheet that has a
      header is read (or only the one named by `sheet`). In each sheet the first non-blank row
      is the header and every later non-blank row is one ingestion row. Blank rows (every cell
      empty or whitespace) are skipped, but `source_row_index` is always the real row number
      (for CSV the 1-based record number, header = 1, where one record may span several lines).
    - `profile_mode`: 1 to `max_files` files, each one form-like sheet (the first visible
      worksheet, or `sheet`) that becomes exactly one row with `source_row_index` 1. Its keys
      are the upper-case A1 addresses of the non-empty cells (and of error cells), in reading
      order: row by row, left to right, over the union of all files. Every key is a column of
      the batch, so `max_columns` also caps the number of keys.

    Keys, columns and values: see `keys`, `values`, `inference`. Every column of a sheet's header
    row is a column of the batch, a blank header included (`column_c`), even when no row fills it
    (a spacer column, or the trailing empty field of lines ending with a delimiter): a one-pass
    read cannot know that a column stays empty until its last row, and a key present in some
    rows only would break "every row carries every key". Such a column's type is `empty`. The
    same key on several sheets is one column; `sheetNames` lists them when the batch was read
    from more than one sheet. Every row carries every key, `None` where its sheet has no such
    column or its cell is empty.

    CSV: its one sheet is named after the file without its extension (`clientes.csv` →
    `clientes`), as Excel names the sheet when it opens a CSV. The `sheet` option does not
    apply to CSV files and is ignored for them. Records longer than the header lose their
    extra cells, reported as `extra_cells` when any of them is non-empty; shorter ones are
    padded with nulls.

    Failures are `IngestError`s naming the file (and sheet, row, column where they apply): an
    empty file or a workbook without any data is `CorruptFile`; a missing sheet is
    `SheetNotFound`; the limits of `Settings` are `LimitExceeded` with the setting's name and
    configured value (`max_files`, `max_file_bytes`, `max_rows` over the whole batch,
    `max_columns` per sheet, `max_cell_chars` per trimmed cell).
    """

    def __init__(
        self,
        sources: Sequence[Source],
        mode: BatchMode,
        sheet: str | None,
        settings: Settings,
        *,
        sandboxed: bool = False,
        scratch: Path | None = None,
        schema: ProjectSchema | None = None,
        matching: Matching | None = None,
        row_limit: int | None = None,
    ) -> None:
        """`sandboxed`: this process may die (it is the parsing worker), so calamine may load
        a list-mode workbook while `guards` inspect it, rather than after (see `_open`).
        `scratch`: where temporary files go (`parts`), else the system's temporary directory.
        `matching`: a list-mode read's columns go to a schema's fields (`matching`), a
        profile-mode read's forms are read into them by their anchors (`anchors`).
        `row_limit`: a one-pass read stops after this many rows, as if the sheet ended there
        (a preview, `service.preview`); a two-pass read ignores it.
        `schema`: the project's, applied to the rows (`conforming`); None: rows as read."""
        _check_request(sources, mode, settings)
        self.sources = sources
        self.mode = mode
        self.sheet = sheet
        self.settings = settings
        self.sandboxed = sandboxed
        self.scratch = scratch
        self.schema = schema
        self.matching = matching if mode is BatchMode.LIST_MODE else None
        self.row_limit = row_limit
        self.form_fields = (
            matching.fields if matching is not None and mode is BatchMode.PROFILE_MODE else None
        )
        self._profile: Profile | None = None
        self._tracker: Tracker | None = None
        self._base: list[ColumnMetadata] | None = None
        self.matches: list[ColumnMatch] | None = None
        """A list-mode read with `matching`: how each column was matched, once known."""
        self._estimate: Callable[[int], int] = lambda done: done

    def expected_rows(self, done: int) -> int:
        """The number of rows the read will give, as well as it can be told after `done`
        rows (for a progress bar): exact after a first pass, else from the sheet's size or
        the share of the CSV file read so far."""
        return max(done, self._estimate(done))

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            raise RuntimeError("the profile is known once every row has been read")
        return self._profile

    def columns_read(self) -> list[ColumnMetadata]:
        """The batch's columns as far as the rows read so far tell (a preview, which stops
        early): the final ones once the read is done or had a first pass; in a one-pass read
        stopped early, their types are inferred from the rows read so far."""
        if self._profile is not None:
            return self._profile.columns
        if self._base is None or self._tracker is None:
            return []
        return [
            msgspec.structs.replace(column, inferred_type=stats.inferred_type)
            for column, stats in zip(self._base, self._tracker.stats, strict=True)
        ]

    def chunks(self) -> Generator[list[ParsedRow]]:
        """Every row in source order, in chunks (of up to `plans.CHUNK_ROWS`: rows travel
        in lists, so that no Python code runs per row on their way); in a one-pass read,
        without the messages that wait for whole-column facts (see `amendments`)."""
        delimited.allow_fields_up_to(self.settings.max_cell_chars)
        if self.mode is BatchMode.LIST_MODE:
            source = self.sources[0]
            fmt = formats.open_source(source, self.settings)
            if fmt is FileFormat.CSV:
                yield from self._csv(source)
                return
            book, names, loaded, error_cells = self._open(source, fmt)
            with book:
                if loaded is not None:
                    (name,) = names
                    height = loaded.height
                    self._estimate = lambda done: height - 1
                    errors_here = error_cells.get(name, {})
                    loaded.hold_errors(errors_here)
                    yield from self._one_pass(
                        source, fmt, None, name, loaded.rows(), loaded.first_column, errors_here
                    )
                    return
            # Several sheets: two passes, without inspecting the archive a second time.
            self._profile = ListProfiler(self.settings).run(source, self.sheet, error_cells)
            if self.matching is not None:
                columns, self.matches = self.matching.apply(self._profile.columns)
                self._profile = msgspec.structs.replace(self._profile, columns=columns)
        else:
            self._profile = profile(self.sources, self.mode, self.sheet, self.settings)
            if self.form_fields is not None:
                self._profile = anchors.form_profile(self._profile, self.form_fields)
        total = self._profile.row_count
        self._estimate = lambda done: total
        yield from parse_rows(
            self.sources, self.mode, self.sheet, self.settings, self._profile, self.schema
        )

    def amendments(self) -> Iterator[Amendment]:
        """After `chunks()`: the rows of a one-pass read that gain messages (see `amendments`)."""
        if self._tracker is None:
            return iter(())
        profile = self.profile
        return self._tracker.amendments(
            [column.inferred_type for column in profile.columns], profile.warn_empty
        )

    def _open(
        self, source: Source, fmt: FileFormat
    ) -> tuple[workbook.Workbook, list[str], workbook.LoadedSheet | None, guards.ErrorCells]:
        """`workbook.open_for_list`, pre-checked: the workbook, its sheets to read, the sheet
        loaded for a one-pass read, and the error cells the pre-checks found.

        For 200k rows x 12, the pre-checks of a ZIP workbook take 0.6 s and the load 1.5 s,
        all of it in calamine, which releases the GIL: so in the worker (`sandboxed`) the two
        run at once, on two cores, and no row is read before both are done. The answer is
        the same as when the pre-checks run first: their refusal wins over whatever calamine
        made of the file, and if calamine kills the worker before they are done, the parent
        runs them alone for the answer (`ingestion.sandbox.Worker.unexpected_end`).

        An xls has no pre-checks, but its error cells are read from its records in the same
        way, while calamine loads it.

        A big xlsx sheet is also cut into parts as the pre-checks read it, and calamine loads
        the parts side by side (`parts`): then the load waits for the pre-checks' bytes."""
        cutter = (
            parts.plan(source.path, source.name, self.sheet, workbook.load_part, self.scratch)
            if fmt is FileFormat.XLSX
            else None
        )
        opening = (
            workbook.Opening(source, self.sheet, self.settings, cutter=cutter)
            if self.sandboxed
            else None
        )
        try:
            error_cells = guards.inspect_workbook(
                source.path, source.name, fmt, self.settings, tap=cutter
            )
        except BaseException:
            if cutter is not None:
                cutter.end()
                if opening is None:  # (in the worker, the process ends with the refusal)
                    cutter.close()
            raise
        if cutter is not None:
            cutter.end()
        try:
            if opening is not None:
                return (*opening.result(), error_cells)
            opened = workbook.open_for_list(source, self.sheet, self.settings, cutter=cutter)
            return (*opened, error_cells)
        finally:
            if cutter is not None:
                cutter.close()

    def _csv(self, source: Source) -> Iterator[list[ParsedRow]]:
        dialect = delimited.csv_dialect(source, whole_file=self.row_limit is None)
        name = delimited.csv_sheet_name(source.name)
        size = source.path.stat().st_size
        with delimited.open_text(source.path, dialect) as stream:
            self._estimate = lambda done: (
                done if stream.closed else done * size // max(stream.buffer.tell(), 1)
            )
            rows = delimited.csv_rows(stream, dialect, source.name)
            try:
                yield from self._one_pass(source, FileFormat.CSV, dialect, name, rows, 0, {})
            except delimited.TooLongField as error:
                raise limits.too_long(
                    source.name, name, error.row, None, None, self.settings
                ) from None

    def _one_pass(
        self,
        source: Source,
        fmt: FileFormat,
        dialect: TextDialect | None,
        name: str,
        rows: Iterator[tuple[int, list[Any]]],
        first_column: int,
        error_cells: dict[str, str],
    ) -> Iterator[list[ParsedRow]]:
        header = next(rows, None)
        if header is None:
            raise profiling.no_header(source.name, csv=dialect is not None, sheet=self.sheet)
        header_row, cells = header
        if self.row_limit is not None:
            rows = itertools.islice(rows, self.row_limit)
        headers = check_header(source.name, name, header_row, first_column, cells, self.settings)
        allocator = KeyAllocator()
        keys = [
            allocator.allocate(text, first_column + offset) for offset, text in enumerate(headers)
        ]

        base = [
            ColumnMetadata(
                normalized_key=key,
                original_header=text,
                inferred_type=InferredType.STRING,
                position=position,
            )
            for position, (key, text) in enumerate(zip(keys, headers, strict=True))
        ]
        if self.matching is not None:
            base, self.matches = self.matching.apply(base)
        self._base = base

        def columns(types: Sequence[InferredType]) -> list[ColumnMetadata]:
            return [
                msgspec.structs.replace(column, inferred_type=type_)
                for column, type_ in zip(base, types, strict=True)
            ]

        plan = SheetPlan(
            name=name,
            header_row=header_row,
            first_column=first_column,
            keys=list(range(len(keys))),
            rows=0,
            error_cells=error_cells,
        )
        unknown = [False] * len(keys)
        provisional = Profile(
            mode=self.mode,
            columns=columns([InferredType.STRING] * len(keys)),
            row_count=0,
            warn_empty=unknown,
            check_types=unknown,
            files=[],
        )
        data_keys = [column.data_key for column in base]
        tracker = self._tracker = Tracker(source.name, name, data_keys, self.settings)
        try:
            yield from Emitter(provisional, self.settings, self.schema).body(
                source.name,
                plan,
                rows,
                text=dialect is not None,
                surrogates=dialect is not None and dialect.may_carry_surrogates,
                tracker=tracker,
            )
        except BaseException:
            tracker.close()
            raise
        stats = tracker.stats
        self._profile = Profile(
            mode=self.mode,
            columns=columns([column.inferred_type for column in stats]),
            row_count=tracker.rows,
            warn_empty=[column.mostly_filled for column in stats],
            check_types=[column.misfits > 0 for column in stats],
            files=[
                FilePlan(
                    name=source.name,
                    format=fmt,
                    dialect=dialect,
                    sheets=[msgspec.structs.replace(plan, rows=tracker.rows)],
                )
            ],
        )


def profile(
    sources: Sequence[Source], mode: BatchMode, sheet: str | None, settings: Settings
) -> Profile:
    """Pass 1: detect, pre-check, apply limits, find keys and infer every column's type."""
    _check_request(sources, mode, settings)
    delimited.allow_fields_up_to(settings.max_cell_chars)
    if mode is BatchMode.LIST_MODE:
        return ListProfiler(settings).run(sources[0], sheet)
    return FormProfiler(settings).run(sources, sheet)


def precheck(sources: Sequence[Source], settings: Settings) -> None:
    """Only the checks that run before any parser sees a file: its size, its format and,
    for a ZIP workbook, the `guards` pre-checks. Raises what a `Parser` would raise first
    for the same files, so the worker's parent can tell why a worker died
    (`ingestion.sandbox.Worker.unexpected_end`)."""
    for source in sources:
        fmt = formats.open_source(source, settings)
        if fmt.is_zip:
            guards.inspect_archive(source.path, source.name, fmt, settings)


def _check_request(sources: Sequence[Source], mode: BatchMode, settings: Settings) -> None:
    if mode is BatchMode.LIST_MODE and len(sources) != 1:
        raise errors.InvalidInput(f"list_mode takes exactly one file, not {len(sources)}")
    if not sources:
        raise errors.InvalidInput("profile_mode takes at least one file")
    if len(sources) > settings.max_files:
        raise errors.LimitExceeded(
            f"{len(sources)} files uploaded; the limit is {settings.max_files} per upload",
            limit="max_files",
            value=settings.max_files,
        )


def parse_rows(
    sources: Sequence[Source],
    mode: BatchMode,
    sheet: str | None,
    settings: Settings,
    profile: Profile,
    schema: ProjectSchema | None = None,
) -> Iterator[list[ParsedRow]]:
    """Pass 2: read the files again and yield every row, validated, in source order
    (files as given, sheets in workbook order, rows top to bottom), in chunks."""
    if len(sources) != len(profile.files) or any(
        source.name != plan.name for source, plan in zip(sources, profile.files, strict=False)
    ):
        raise ValueError("parse_rows needs the sources its profile was made from")
    delimited.allow_fields_up_to(settings.max_cell_chars)
    emitter = Emitter(profile, settings, schema)
    for source, plan in zip(sources, profile.files, strict=True):
        if mode is BatchMode.LIST_MODE:
            yield from emitter.list_file(source, plan)
        else:
            yield [emitter.form(source, plan)]


__all__ = [
    "Amendment",
    "FilePlan",
    "ParsedRow",
    "Parser",
    "Profile",
    "SheetPlan",
    "Source",
    "parse_rows",
    "precheck",
    "profile",
]
