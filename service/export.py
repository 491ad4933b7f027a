"""Exports: a batch's rows, or the completed batches of a project, as one CSV, NDJSON or XLSX
file, streamed as it is produced, in constant memory.

- **One transaction per download**, read-only and REPEATABLE READ, held from the first byte
  to the last: the file is one snapshot, however long the download. Its statements may run
  for `SHEETFLOW_EXPORT_TIMEOUT_SECONDS` (a COPY lasts as long as its client reads).
- **CSV and NDJSON are written by PostgreSQL** (`COPY (…) TO STDOUT`, `sql/export.sql`):
  the service passes the bytes on, a few buffers at a time; asyncpg stops reading while the
  client is slow, and PostgreSQL waits. NDJSON is each row's `data` exactly as stored. CSV
  is RFC 4180 (quotes doubled, fields with the separator, a quote, CR or LF quoted, CRLF
  line ends), UTF-8, optionally with a BOM and `;` (Excel on Portuguese Windows).
- **XLSX** is written by xlsxwriter in `constant_memory` mode into a temporary file (a zip
  needs its parts before its directory, so its bytes can only be sent once it is whole;
  memory stays flat, disk holds the file). Rows come from a server-side cursor and are
  written off the event loop, a chunk at a time, while the next chunk is read. Cells are
  typed: JSON numbers and booleans as such, and text as the number, boolean, date, date-time
  or time it stands for when its column was inferred as that type (CSV values are text);
  other text is always written as a string, never a formula. The header row is frozen.
- **Safe to open** (OWASP's CSV injection): in CSV a text value that starts with `=`, `+`,
  `-`, `@`, a tab or a carriage return gets a leading apostrophe (`'=1+2`), which
  spreadsheet programs show instead of running a formula; numbers stored as JSON numbers
  (-5) are not text and are left alone, a text "-5" is not. `raw=true` turns this off (the
  file is then the data exactly, and dangerous to open in a spreadsheet). XLSX never has
  formulas; NDJSON is exact.
- **Columns**: the batch's keys in column order, or `columns=` (a subset, in the order
  given); a project export takes every key of its batches, in the order they first appear,
  after a `batchId` column. `provenance=true` adds `sourceFileName`, `sourceSheetName` and
  `sourceRowIndex` after them. Headers: `original` (the header cell's text, as uploaded),
  `key` (the normalized key) or `label` (the column's label, set by the batch's owner, else
  the original header; made non-empty and unique: an empty one becomes its key, a repeated
  one gets " (2)", " (3)"…).
- **The issues report** (`report=issues`, XLSX): the rows with errors or warnings, their
  original headers, a `Messages` column in words and, first, a hidden `Row id` column: the
  file a sender corrects and sends back (`service/corrections.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import csv
import datetime as dt
import enum
import io
import re
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import IO, Any
from urllib.parse import quote

import msgspec

from service.db import Connection, Pool
from service.entities import Batch, InferredType, RowStatus
from service.errors import InvalidInput
from service.ingest import inference
from service.row_filter import RowFilter
from service.store import export as store

XLSX_MAX_ROWS = 1_048_576
"""Excel's rows per sheet, the header row included."""
CHUNK_ROWS = 2_000
"""Rows fetched and written per step of an XLSX export."""
FILE_CHUNK_BYTES = 1 << 20
COALESCE_BYTES = 256 << 10
"""Buffers of a COPY that have arrived while the last was sent go out together, up to this."""
BATCH_COLUMN = "batchId"
PROVENANCE_COLUMNS = ("sourceFileName", "sourceSheetName", "sourceRowIndex")
ROW_ID_HEADING = "Row id"
MESSAGES_HEADING = "Messages"
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class Format(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    NDJSON = "ndjson"


class Header(enum.StrEnum):
    ORIGINAL = "original"
    KEY = "key"
    LABEL = "label"


class Delimiter(enum.StrEnum):
    COMMA = ","
    SEMICOLON = ";"
    TAB = "\t"
    PIPE = "|"


DELIMITERS = tuple(delimiter.value for delimiter in Delimiter)


class Report(enum.StrEnum):
    ISSUES = "issues"


MEDIA_TYPES = {
    Format.CSV: "text/csv",
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Format.NDJSON: "application/x-ndjson",
}


class Options(msgspec.Struct, frozen=True, kw_only=True):
    format: Format = Format.CSV
    columns: tuple[str, ...] | None = None
    header: Header = Header.ORIGINAL
    provenance: bool = False
    statuses: tuple[RowStatus, ...] | None = None
    """The report's statuses (error and warning); the `status` filter is in `rows`."""
    rows: RowFilter = RowFilter()
    """The rows-list filter: `status`, `delivery`, `q`, `where.<key>`."""
    bom: bool = False
    delimiter: str = ","
    raw: bool = False
    report: Report | None = None


class Column(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    """The row key, or a pseudo-key (" batchId", " sourceFileName"…) read from extras."""
    heading: str
    inferred_type: InferredType
    label: str | None = None
    """The label the batch's owner gave the column, if any (`header=label`)."""


def check(options: Options) -> Options:
    """Refuse options that do not go together (400, naming the parameter)."""
    if options.delimiter not in DELIMITERS:
        raise InvalidInput(f"delimiter must be one of {', '.join(map(repr, DELIMITERS))}")
    if options.report is not None:
        if options.format is not Format.XLSX:
            raise InvalidInput("report=issues is an XLSX file: use format=xlsx")
        if options.columns is not None or options.provenance:
            raise InvalidInput("report=issues takes neither columns nor provenance")
        return msgspec.structs.replace(
            options, statuses=(RowStatus.ERROR, RowStatus.WARNING), header=Header.ORIGINAL
        )
    return options


def parse_columns(text: str | None) -> tuple[str, ...] | None:
    """`columns=` as keys: comma-separated, each named once."""
    if text is None:
        return None
    keys = tuple(key.strip() for key in text.split(","))
    if any(not key for key in keys):
        raise InvalidInput("columns must be comma-separated keys, none empty")
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise InvalidInput(f"columns names {', '.join(repeated)} more than once")
    return keys


def plan(batches: Sequence[Batch], options: Options, *, with_batch: bool) -> list[Column]:
    """The columns of the file, in order, with their headings."""
    known: dict[str, Column] = {}
    for batch in batches:
        for meta in sorted(batch.column_metadata, key=lambda meta: meta.position):
            if meta.normalized_key not in known:
                known[meta.normalized_key] = Column(
                    key=meta.normalized_key,
                    heading=meta.original_header,
                    inferred_type=meta.inferred_type,
                    label=meta.label,
                )
    if options.columns is None:
        chosen = list(known.values())
    else:
        unknown = [key for key in options.columns if key not in known]
        if unknown:
            raise InvalidInput(
                f"columns: no column {', '.join(map(repr, unknown))} here "
                f"(the keys are: {', '.join(known) or 'none'})"
            )
        chosen = [known[key] for key in options.columns]
    if options.header is Header.KEY:
        chosen = [msgspec.structs.replace(column, heading=column.key) for column in chosen]
    elif options.header is Header.LABEL:
        chosen = _labelled(chosen)
    extras = [BATCH_COLUMN] if with_batch else []
    extras += list(PROVENANCE_COLUMNS) if options.provenance else []
    made = [
        Column(key=f" {name}", heading=name, inferred_type=InferredType.STRING) for name in extras
    ]
    if with_batch:
        return made[:1] + chosen + made[1:]
    return chosen + made


def _labelled(columns: list[Column]) -> list[Column]:
    seen: dict[str, int] = {}
    labelled = []
    for column in columns:
        label = (column.label or column.heading).strip() or column.key
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} ({seen[label]})"
        labelled.append(msgspec.structs.replace(column, heading=label))
    return labelled


def file_name(stem: str | None, fallback: str, options: Options) -> str:
    """A name for the download: `stem` without its extension (the batch's or the project's
    name), else `fallback`, then `-issues` for the report, then the format's."""
    base = (stem or "").rsplit(".", 1)[0] if stem and "." in stem[1:] else (stem or "")
    base = re.sub(r"[\x00-\x1f\x7f/\\\"]+", "_", base).strip(" ._") or fallback
    suffix = "-issues" if options.report is not None else ""
    return f"{base[:100]}{suffix}.{options.format.value}"


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII `filename` and the exact UTF-8 one (RFC 6266, 5987)."""
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def xlsx_row_count(batches: Sequence[Batch], options: Options) -> None:
    """Refuse an XLSX export that a sheet cannot hold (400), before its first byte: counted
    by status, before the filters that read the rows (a batch alone always fits)."""
    if options.rows.status is not None:
        statuses: tuple[RowStatus, ...] = (options.rows.status,)
    else:
        statuses = options.statuses or tuple(RowStatus)
    rows = sum(
        getattr(batch.status_counts, status.value) for batch in batches for status in statuses
    )
    if rows + 1 > XLSX_MAX_ROWS:
        raise InvalidInput(
            f"{rows:,} rows do not fit in one XLSX sheet ({XLSX_MAX_ROWS - 1:,} at most): "
            "use format=csv or ndjson, or a status filter"
        )


OnRows = Callable[[int], None]


async def stream(
    pool: Pool,
    batches: Sequence[Batch],
    columns: Sequence[Column],
    options: Options,
    *,
    with_batch: bool,
    timeout_seconds: float,
    on_rows: OnRows | None = None,
) -> AsyncGenerator[bytes, None]:
    """The file's bytes, in order. The connection and its transaction are taken at the first
    step and given back when the iterator ends, fails or is closed (a client gone: the
    statement running is cancelled and the transaction rolled back)."""
    async with pool.acquire() as conn:
        transaction = conn.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        try:
            await store.allow_long_export(conn, timeout_seconds)
            if options.format is Format.NDJSON:
                produced = _ndjson(conn, batches, options, with_batch, timeout_seconds, on_rows)
            elif options.format is Format.CSV:
                produced = _csv(
                    conn, batches, columns, options, with_batch, timeout_seconds, on_rows
                )
            else:
                produced = _xlsx(conn, batches, columns, options, with_batch, on_rows)
            # Closed explicitly, as each inner iterator below: `async for` leaves an iterator
            # it stops reading (this one closed, or failed) suspended, its COPY still running.
            async with contextlib.aclosing(produced):
                async for chunk in produced:
                    yield chunk
        except BaseException:
            if not _cut_short.get():  # a COPY cut short closed the connection (`_copied`)
                await transaction.rollback()
            raise
        await transaction.commit()


_cut_short: contextvars.ContextVar[bool] = contextvars.ContextVar("cut_short", default=False)
"""Set by `_copied` when it closed the export's connection (in the export's own context)."""


async def _copied(
    conn: Connection, copy: Callable[[store.Output], Awaitable[None]]
) -> AsyncGenerator[bytes, None]:
    """What a COPY hands its output, as an iterator: a small queue between them, so the
    COPY waits while the consumer does (memory: at most 16 of asyncpg's buffers). Closing the
    iterator before the end stops the COPY and closes the connection: asyncpg, its COPY
    cancelled while it waits on the queue, may leave the connection mid-COPY (the rollback
    then fails with "another operation is in progress"), and a closed socket stops the
    server's backend at its next write, its transaction rolled back. The pool opens a new
    connection in its place."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=16)

    async def sink(data: bytes) -> None:
        await queue.put(bytes(data))  # asyncpg hands over a view of its own buffer

    async def run() -> None:
        try:
            await copy(sink)
        except asyncio.CancelledError:
            raise
        except BaseException:
            await queue.put(None)  # the consumer is there: it ends, then sees the error
            raise
        await queue.put(None)

    task = asyncio.create_task(run())
    try:
        ended = False
        while not ended and (chunk := await queue.get()) is not None:
            # What has arrived meanwhile goes with it: fewer, larger writes to the client.
            parts, size = [chunk], len(chunk)
            while size < COALESCE_BYTES and not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    ended = True
                    break
                parts.append(more)
                size += len(more)
            yield b"".join(parts)
        await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
            _cut_short.set(True)
            conn.terminate()


async def _ndjson(
    conn: Connection,
    batches: Sequence[Batch],
    options: Options,
    with_batch: bool,
    timeout_seconds: float,
    on_rows: OnRows | None,
) -> AsyncGenerator[bytes, None]:
    for batch in batches:

        async def copy(output: store.Output, batch_id: Any = batch.id) -> None:
            await store.copy_ndjson(
                conn,
                batch_id,
                options.statuses,
                options.rows.arguments(),
                wrapped=with_batch or options.provenance,
                with_batch=with_batch,
                provenance=options.provenance,
                output=output,
                guard_seconds=timeout_seconds + 1,
            )

        async with contextlib.aclosing(_copied(conn, copy)) as chunks:
            async for chunk in chunks:
                if on_rows is not None:
                    on_rows(chunk.count(b"\n"))
                yield chunk


class Number(str):
    """A JSON number with a fraction or an exponent, kept as the text PostgreSQL wrote."""

    __slots__ = ()


_decode_lines = msgspec.json.Decoder(float_hook=Number).decode
_EXTRA_FIELDS = {f" {name}": name for name in (BATCH_COLUMN, *PROVENANCE_COLUMNS)}


class CsvWriter:
    """CSV records (RFC 4180: quotes doubled, a field with the separator, a quote, CR or LF
    quoted, CRLF line ends) of NDJSON lines as PostgreSQL writes them. Numbers come out as
    PostgreSQL wrote them (`float_hook`: never through a float), booleans `true`/`false`,
    null empty; with `neutralise`, text that starts like a formula gets an apostrophe."""

    def __init__(self, keys: Sequence[str], delimiter: str, *, neutralise: bool, extras: bool):
        self.keys = list(keys)
        self.neutralise = neutralise
        self.extras = extras
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, delimiter=delimiter, lineterminator="\r\n")

    def cell(self, value: Any) -> str:
        kind = type(value)
        if kind is str:
            text: str = value
            return "'" + text if self.neutralise and text.startswith(DANGEROUS_PREFIXES) else text
        if value is None:
            return ""
        if kind is bool:
            return "true" if value else "false"
        if kind is int or kind is Number:
            return str(value)
        return msgspec.json.encode(value).decode()

    def rows(self, lines: bytes) -> tuple[bytes, int]:
        """The records of complete NDJSON `lines` (each ending in a newline), and how many."""
        records = _decode_lines(b"[" + lines[:-1].replace(b"\n", b",") + b"]")
        cell, keys = self.cell, self.keys
        if self.extras:
            records = [
                {**record["data"], **{key: record.get(name) for key, name in _EXTRA_FIELDS.items()}}
                for record in records
            ]
        self.writer.writerows([[cell(record.get(key)) for key in keys] for record in records])
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text.encode(), len(records)

    def header(self, headings: Sequence[str]) -> bytes:
        self.writer.writerow([self.cell(heading) for heading in headings])
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text.encode()


async def _csv(
    conn: Connection,
    batches: Sequence[Batch],
    columns: Sequence[Column],
    options: Options,
    with_batch: bool,
    timeout_seconds: float,
    on_rows: OnRows | None,
) -> AsyncGenerator[bytes, None]:
    """PostgreSQL writes the rows' JSON (as for NDJSON); the records are made from it off
    the event loop, a buffer at a time, while PostgreSQL writes on."""
    extras = with_batch or options.provenance
    writer = CsvWriter(
        [column.key for column in columns],
        options.delimiter,
        neutralise=not options.raw,
        extras=extras,
    )
    yield ("\ufeff" if options.bom else "").encode() + writer.header(
        [column.heading for column in columns]
    )
    for batch in batches:

        async def copy(output: store.Output, batch_id: Any = batch.id) -> None:
            await store.copy_ndjson(
                conn,
                batch_id,
                options.statuses,
                options.rows.arguments(),
                wrapped=extras,
                with_batch=extras,
                provenance=extras,
                output=output,
                guard_seconds=timeout_seconds + 1,
            )

        pending = b""
        async with contextlib.aclosing(_copied(conn, copy)) as chunks:
            async for chunk in chunks:
                buffered = pending + chunk
                complete = buffered.rfind(b"\n") + 1
                lines, pending = buffered[:complete], buffered[complete:]
                if not lines:
                    continue
                text, count = await asyncio.to_thread(writer.rows, lines)
                if on_rows is not None:
                    on_rows(count)
                yield text


# XLSX ---------------------------------------------------------------------------------------

_TYPED_COLUMNS = frozenset(
    {
        InferredType.INTEGER,
        InferredType.NUMBER,
        InferredType.BOOLEAN,
        InferredType.DATE,
        InferredType.DATETIME,
        InferredType.TIME,
    }
)
_SAFE_INTEGER = 2**53
_DAY_FIRST = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: (.*))?")


def _date(text: str) -> dt.date:
    found = _DAY_FIRST.fullmatch(text)
    if found is None:
        return dt.date.fromisoformat(text[:10])
    return dt.date(int(found[3]), int(found[2]), int(found[1]))


def _clock(text: str) -> dt.time:
    parts = text.split(":")
    seconds = float(parts[2]) if len(parts) > 2 else 0.0
    whole = int(seconds)
    return dt.time(int(parts[0]), int(parts[1]), whole, round((seconds - whole) * 1_000_000))


def typed(value: Any, inferred_type: InferredType) -> Any:
    """The value an XLSX cell holds for a stored value of a column of `inferred_type`: text
    that fits the column's type becomes that type (CSV values are all text); anything else
    stays what it is. Dates before 1900 (Excel cannot show them) and date-times with an
    offset (Excel has none) stay text, as do integers too large for Excel's doubles."""
    if type(value) is not str or inferred_type not in _TYPED_COLUMNS:
        return value
    kind = inference.classify_text(value)
    if kind not in inference.FITTING_KINDS[inferred_type]:
        return value
    try:
        if kind == inference.INTEGER:
            number = int(value)
            return number if abs(number) <= _SAFE_INTEGER else value
        if kind == inference.NUMBER:
            return float(value)
        if kind == inference.BOOLEAN:
            return value.lower() in ("true", "verdadeiro")
        if kind == inference.DATE:
            day = _date(value)
            return day if day.year >= 1900 else value
        if kind == inference.DATETIME:
            if value.endswith("Z") or re.search(r"[+-]\d\d:?\d\d$", value[10:]):
                return value
            day = _date(value.replace("T", " ").split(" ", 1)[0])
            moment = dt.datetime.combine(day, _clock(value.replace("T", " ").split(" ", 1)[1]))
            return moment if moment.year >= 1900 else value
        if kind == inference.TIME:
            return _clock(value)
    except ValueError:
        return value
    return value


class Sheet:
    """One xlsxwriter workbook of one sheet in constant-memory mode, written to `output`:
    rows in order, each cell by its type, strings never read as formulas or links."""

    def __init__(self, output: IO[bytes], headings: Sequence[str], *, hidden_first: bool) -> None:
        import xlsxwriter

        self.book = xlsxwriter.Workbook(
            output,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self.sheet = self.book.add_worksheet("export")
        self.formats = {
            dt.date: self.book.add_format({"num_format": "yyyy-mm-dd"}),
            dt.datetime: self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
            dt.time: self.book.add_format({"num_format": "hh:mm:ss"}),
        }
        bold = self.book.add_format({"bold": True})
        if hidden_first:
            self.sheet.set_column(0, 0, None, None, {"hidden": True})
        self.sheet.freeze_panes(1, 0)
        for index, heading in enumerate(headings):
            self.sheet.write_string(0, index, heading, bold)
        self.next_row = 1

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        sheet, formats = self.sheet, self.formats
        for cells in rows:
            row = self.next_row
            self.next_row += 1
            for index, value in enumerate(cells):
                kind = type(value)
                if value is None:
                    continue
                if kind is str:
                    sheet.write_string(row, index, value)
                elif kind is bool:
                    sheet.write_boolean(row, index, value)
                elif kind is int and abs(value) > _SAFE_INTEGER:
                    sheet.write_string(row, index, str(value))
                elif kind is int or kind is float:
                    sheet.write_number(row, index, value)
                elif kind in formats:
                    sheet.write_datetime(row, index, value, formats[kind])
                else:
                    sheet.write_string(row, index, msgspec.json.encode(value).decode())

    def close(self) -> None:
        self.book.close()


def messages_in_words(messages: Sequence[dict[str, Any]], headings: dict[str, str]) -> str:
    """A row's validation messages for a person: "Idade: Empty field; Nome: …"."""
    return "; ".join(
        f"{headings.get(message.get('field', ''), message.get('field', ''))}: "
        f"{message.get('message', '')}"
        for message in messages
    )


async def _xlsx(
    conn: Connection,
    batches: Sequence[Batch],
    columns: Sequence[Column],
    options: Options,
    with_batch: bool,
    on_rows: OnRows | None,
) -> AsyncGenerator[bytes, None]:
    report = options.report is not None
    headings = [column.heading for column in columns]
    if report:
        headings = [ROW_ID_HEADING, *headings, MESSAGES_HEADING]
    by_key = {column.key: column.heading for column in columns}
    types = [column.inferred_type for column in columns]
    keys = [column.key for column in columns]
    extras = with_batch or options.provenance
    with tempfile.TemporaryFile() as spool:
        sheet = await asyncio.to_thread(Sheet, spool, headings, hidden_first=report)
        writing: asyncio.Future[None] | None = None
        try:
            for batch in batches:
                chunk: list[list[Any]] = []
                async for row_id, messages, values in store.cells(
                    conn,
                    batch.id,
                    options.statuses,
                    options.rows.arguments(),
                    keys,
                    extras=extras,
                    messages=report,
                    prefetch=CHUNK_ROWS,
                ):
                    cells = [typed(value, kind) for value, kind in zip(values, types, strict=True)]
                    if report:
                        cells = [str(row_id), *cells, messages_in_words(messages, by_key) or None]
                    chunk.append(cells)
                    if len(chunk) >= CHUNK_ROWS:
                        if writing is not None:
                            await writing
                        writing = asyncio.ensure_future(asyncio.to_thread(sheet.write, chunk))
                        if on_rows is not None:
                            on_rows(len(chunk))
                        chunk = []
                if writing is not None:
                    await writing
                    writing = None
                await asyncio.to_thread(sheet.write, chunk)
                if on_rows is not None:
                    on_rows(len(chunk))
        finally:
            if writing is not None:
                await asyncio.wait({writing})  # a thread cannot be stopped: let it end
        await asyncio.to_thread(sheet.close)
        spool.seek(0)
        while data := await asyncio.to_thread(spool.read, FILE_CHUNK_BYTES):
            yield data
