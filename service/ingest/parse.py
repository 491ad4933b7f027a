"""The ingestion engine: two streaming passes over the uploaded files (spec §4).

Why two passes. Each row must be written once, with its final `status` and
`validation_messages`, but two checks depend on facts about a whole column that are only
known after its last value: `type_mismatch` needs the column's inferred type, and `empty`
needs to know whether the column is filled in at least 95 % of its rows. Holding every row
until the end would make memory grow with the file. So `profile` (pass 1) streams the
files once and keeps only constant-size facts per column (kind counts, fill counts) plus
how to read each file again; `parse_rows` (pass 2) streams them again, validates each row
against those facts and yields it, ready for COPY. Memory stays flat whatever the number
of rows: a CSV is read a record at a time, values are processed in chunks of
`CHUNK_ROWS` rows. The exception is calamine, which holds one whole sheet at a time; a
single-sheet workbook loaded by pass 1 is kept for pass 2 when both run in one process, so
it is parsed once (see `workbook`). `Profile` is a msgspec Struct, so pass 1 and pass 2
may run in different processes.

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

Keys, columns and values: see `keys`, `values`, `inference`. A column whose header is blank
and which holds no value at all (a spacer column, or the trailing empty field of lines
ending with a delimiter) is not a column of the batch. The same key on several sheets is
one column; `sheetNames` lists them when the batch was read from more than one sheet. Every
row carries every key, `None` where its sheet has no such column or its cell is empty.

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

from __future__ import annotations

from collections.abc import Iterator, Sequence

from service import errors
from service.entities import BatchMode
from service.ingest import delimited, workbook
from service.ingest.plans import FilePlan, ParsedRow, Profile, SheetPlan, Source
from service.ingest.profiling import FormProfiler, ListProfiler
from service.ingest.rows import Emitter
from service.settings import Settings


def profile(
    sources: Sequence[Source], mode: BatchMode, sheet: str | None, settings: Settings
) -> Profile:
    """Pass 1: detect, pre-check, apply limits, find keys and infer every column's type."""
    _check_request(sources, mode, settings)
    workbook.forget_kept_sheet()
    delimited.allow_fields_up_to(settings.max_cell_chars)
    try:
        if mode is BatchMode.LIST_MODE:
            return ListProfiler(settings).run(sources[0], sheet)
        return FormProfiler(settings).run(sources, sheet)
    except BaseException:
        workbook.forget_kept_sheet()
        raise


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
) -> Iterator[ParsedRow]:
    """Pass 2: read the files again and yield every row, validated, in source order
    (files as given, sheets in workbook order, rows top to bottom)."""
    if len(sources) != len(profile.files) or any(
        source.name != plan.name for source, plan in zip(sources, profile.files, strict=False)
    ):
        raise ValueError("parse_rows needs the sources its profile was made from")
    delimited.allow_fields_up_to(settings.max_cell_chars)
    emitter = Emitter(profile, settings)
    try:
        for source, plan in zip(sources, profile.files, strict=True):
            if mode is BatchMode.LIST_MODE:
                yield from emitter.list_file(source, plan)
            else:
                yield emitter.form(source, plan)
    finally:
        workbook.forget_kept_sheet()


__all__ = ["FilePlan", "ParsedRow", "Profile", "SheetPlan", "Source", "parse_rows", "profile"]
