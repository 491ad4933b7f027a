"""Worksheets of Excel 2.x-4.0 (bare BIFF2-4 record streams), read by `ingest.oldbiff`:
the same rows and types as any other workbook, within the same limits (issue 13)."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import errors
from service.entities import RowStatus
from service.ingest import Source, oldbiff
from service.ingest.formats import FileFormat, detect_format
from service.settings import Settings
from tests.ingest.uploads import ingest, types, write_bytes, xls_record

XLRD = Path(__file__).parent.parent / "data" / "xlrd"


def bof(version: int) -> bytes:
    kind = {2: 0x0009, 3: 0x0209, 4: 0x0409}[version]
    body = struct.pack("<HH", 0, 0x0010) + (b"" if version == 2 else b"\x00\x00")
    return xls_record(kind, body)


def cell(version: int, row: int, column: int, xf: int = 0) -> bytes:
    """Row, column and the cell's format: 3 attribute bytes in BIFF2, an XF index after."""
    if version == 2:
        return struct.pack("<HH", row, column) + bytes([xf & 0x3F, 0, 0])
    return struct.pack("<HHH", row, column, xf)


def label(version: int, row: int, column: int, text: str) -> bytes:
    data = text.encode("cp1252")
    length = bytes([len(data)]) if version == 2 else struct.pack("<H", len(data))
    return xls_record(
        0x0004 if version == 2 else 0x0204, cell(version, row, column) + length + data
    )


def number(version: int, row: int, column: int, value: float, xf: int = 0) -> bytes:
    kind = 0x0003 if version == 2 else 0x0203
    return xls_record(kind, cell(version, row, column, xf) + struct.pack("<d", value))


def boolerr(version: int, row: int, column: int, value: int, error: bool) -> bytes:
    kind = 0x0005 if version == 2 else 0x0205
    return xls_record(kind, cell(version, row, column) + bytes([value, int(error)]))


def formula(version: int, row: int, column: int, result: bytes, xf: int = 0) -> bytes:
    """A FORMULA with its cached `result` (8 bytes) and a one-token formula."""
    kind = {2: 0x0006, 3: 0x0206, 4: 0x0406}[version]
    flags = b"\x00" if version == 2 else b"\x00\x00"
    tokens = b"\x01\x1e\x01\x00" if version == 2 else b"\x03\x00\x1e\x01\x00"
    return xls_record(kind, cell(version, row, column, xf) + result + flags + tokens)


def string(version: int, text: str) -> bytes:
    data = text.encode("cp1252")
    length = bytes([len(data)]) if version == 2 else struct.pack("<H", len(data))
    return xls_record(0x0007 if version == 2 else 0x0207, length + data)


def special(kind: int, value: int = 0) -> bytes:
    """A FORMULA result that is not a number: text (0), boolean (1), error (2), empty (3)."""
    return bytes([kind, 0, value, 0, 0, 0]) + b"\xff\xff"


def formats_and_xfs(version: int, formats: list[str]) -> bytes:
    """FORMAT records for `formats` (indexes 0, 1, …) and one XF per format, same index."""
    records = b""
    for text in formats:
        data = text.encode("cp1252")
        prefix = b"\x00\x00" if version == 4 else b""
        records += xls_record(
            0x041E if version == 4 else 0x001E, prefix + bytes([len(data)]) + data
        )
    for index in range(len(formats)):
        if version == 2:
            records += xls_record(0x0043, bytes([0, 0, index, 0]))
        else:
            kind = 0x0243 if version == 3 else 0x0443
            records += xls_record(kind, bytes([0, index]) + b"\x00" * 10)
    return records


def worksheet(version: int, body: bytes) -> bytes:
    return bof(version) + body + xls_record(0x000A)


FORMATS = ["General", "0.00", "d/m/yy", "h:mm", "[h]:mm", '0" d"']


@pytest.mark.parametrize("version", [2, 3, 4])
def test_an_excel_2_to_4_worksheet_gives_the_rows_and_types_of_any_workbook(
    tmp_path: Path, version: int
) -> None:
    body = formats_and_xfs(version, FORMATS)
    header = ["nome", "valor", "quando", "hora", "ok", "calc", "texto"]
    body += b"".join(label(version, 0, column, text) for column, text in enumerate(header))
    body += label(version, 1, 0, "José")
    body += number(version, 1, 1, 41.5, xf=1)
    body += number(version, 1, 2, 45000, xf=2)
    body += number(version, 1, 3, 0.75, xf=3)
    body += boolerr(version, 1, 4, 1, error=False)
    body += formula(version, 1, 5, struct.pack("<d", 7.0))
    body += formula(version, 1, 6, special(0)) + string(version, "soma")
    body += label(version, 3, 0, "Ana")
    if version == 2:
        body += xls_record(0x0002, cell(version, 3, 1) + struct.pack("<H", 12))
    else:
        body += xls_record(0x027E, cell(version, 3, 1) + struct.pack("<I", (12 << 2) | 0x02))
    body += number(version, 3, 2, 45000.5, xf=2)
    body += number(version, 3, 3, 1.5, xf=4)
    body += boolerr(version, 3, 4, 0x07, error=True)
    body += formula(version, 3, 5, special(1, 1))
    body += formula(version, 3, 6, special(2, 0x2A))
    source = write_bytes(tmp_path, "contas.xls", worksheet(version, body))

    assert detect_format(source.path, source.name) is FileFormat.XLS
    found, rows = ingest([source])
    assert types(found) == {
        "nome": "string",
        "valor": "number",
        "quando": "datetime",  # a date and a date-time
        "hora": "time",
        "ok": "boolean",
        "calc": "string",  # a number and a boolean
        "texto": "string",
    }
    assert [(row.source_sheet_name, row.source_row_index) for row in rows] == [
        ("contas", 2),
        ("contas", 4),
    ]
    first, second = (row.data for row in rows)
    assert first == {
        "nome": "José",
        "valor": 41.5,
        "quando": "2023-03-15",
        "hora": "18:00:00",
        "ok": True,
        "calc": 7,
        "texto": "soma",
    }
    assert second["nome"] == "Ana"
    assert second["valor"] == 12
    assert second["quando"] == "2023-03-15T12:00:00"
    assert second["ok"] is None
    assert second["calc"] is True
    assert second["texto"] is None
    assert rows[1].status is RowStatus.ERROR
    assert {
        (m.field, m.message) for m in rows[1].validation_messages if m.type == "cell_error"
    } == {
        ("ok", "Excel error #DIV/0! in cell E4"),
        ("texto", "Excel error #N/A in cell G4"),
    }


def test_cells_are_as_calamine_gives_them() -> None:
    """Dates counted as Excel counts (1900 with its phantom 29 February, or 1904), elapsed
    time as a duration, RK numbers in their four shapes."""
    body = formats_and_xfs(4, FORMATS)
    body += number(4, 0, 0, 59, xf=2) + number(4, 0, 1, 61, xf=2) + number(4, 0, 2, 1.5, xf=4)
    for column, rk in enumerate(
        [(5 << 2) | 0x02, (1234 << 2) | 0x03, 0x3FF00000, 0x3FF00000 | 0x01], start=3
    ):
        body += xls_record(0x027E, cell(4, 0, column) + struct.pack("<I", rk))
    body += number(4, 0, 7, 3, xf=5)
    cells, _ = oldbiff.read(worksheet(4, body), "x.xls", Settings())
    assert [cells[0, column] for column in range(8)] == [
        dt.date(1900, 2, 28),
        dt.date(1900, 3, 1),
        dt.timedelta(days=1, hours=12),
        5.0,
        12.34,
        1.0,
        0.01,
        3.0,
    ]
    dated = xls_record(0x0022, struct.pack("<H", 1)) + body
    cells, _ = oldbiff.read(worksheet(4, dated), "x.xls", Settings())
    assert cells[0, 1] == dt.date(1904, 3, 2)


def test_xlrds_excel_4_worksheet_is_read_as_libreoffice_reads_it() -> None:
    """xlrd's `biff4_no_format_no_window2.xls`: LibreOffice shows a header and 26 rows."""
    source = Source(XLRD / "biff4_no_format_no_window2.xls", "biff4_no_format_no_window2.xls")
    found, rows = ingest([source])
    assert [column.original_header for column in found.columns] == ["ID", "TOTAL", "MAIN", "SUB"]
    assert len(rows) == 26
    assert rows[0].data == {
        "id": "A",
        "total": "DOG & CAT PRODUCTS",
        "main": "Dog & Cat Product",
        "sub": None,
    }
    assert {row.source_sheet_name for row in rows} == {"biff4_no_format_no_window2"}


def test_a_column_past_the_limit_is_refused(tmp_path: Path) -> None:
    data = worksheet(4, label(4, 0, 0, "a") + label(4, 1, 300, "far"))
    with pytest.raises(errors.LimitExceeded) as refused:
        ingest([write_bytes(tmp_path, "far.xls", data)], settings=Settings(max_columns=256))
    assert refused.value.limit == "max_columns"


def test_more_cells_than_the_worker_can_hold_are_refused(tmp_path: Path) -> None:
    cells = b"".join(number(4, row, 0, row) for row in range(200))
    small = Settings(worker_memory_bytes=128 * 256)  # room for 128 cells
    with pytest.raises(errors.LimitExceeded) as refused:
        oldbiff.read(worksheet(4, cells), "big.xls", small)
    assert refused.value.limit == "worker_memory_bytes"


def test_an_empty_worksheet_has_no_data(tmp_path: Path) -> None:
    with pytest.raises(errors.CorruptFile) as refused:
        ingest([write_bytes(tmp_path, "empty.xls", worksheet(3, b""))])
    assert "no data" in str(refused.value)


RECORD_KINDS = [
    *(0x0001, 0x0002, 0x0003, 0x0203, 0x0004, 0x0204, 0x0005, 0x0205, 0x027E),
    *(0x0006, 0x0206, 0x0406, 0x0007, 0x0207, 0x001E, 0x041E, 0x0043, 0x0243),
    *(0x0443, 0x0044, 0x0022, 0x0042, 0x0009, 0x0409, 0x000A, 0x003C, 0xFFFF),
]


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    version=st.sampled_from([2, 3, 4]),
    records=st.lists(
        st.tuples(
            st.sampled_from(RECORD_KINDS),
            st.binary(max_size=24),
        ),
        max_size=40,
    ),
    tail=st.binary(max_size=8),
)
def test_any_records_give_cells_or_a_clean_refusal(
    version: int, records: list[tuple[int, bytes]], tail: bytes
) -> None:
    """Never raises anything but a refusal, on any record bytes; at most one cell per
    record; the rows come out as calamine's would, whatever the cells' places."""
    data = worksheet(version, b"".join(xls_record(kind, body) for kind, body in records)) + tail
    small = Settings(worker_memory_bytes=16 * 256)  # room for 16 cells
    try:
        cells, found = oldbiff.read(data, "any.xls", small)
    except errors.LimitExceeded:
        return
    assert len(cells) <= min(len(records), 16)
    assert len(found) <= len(records)
    sheet = oldbiff.OldSheet("any", cells)
    if sheet.start is not None and sheet.end is not None:
        width = sheet.end[1] - sheet.start[1] + 1
        for _, row in zip(range(4), sheet.iter_rows(), strict=False):
            assert len(row) == width


@settings(max_examples=300, deadline=None, derandomize=True)
@given(version=st.sampled_from([2, 3, 4]), rest=st.binary(max_size=400))
def test_any_bytes_after_a_bof_give_cells_or_a_clean_refusal(version: int, rest: bytes) -> None:
    small = Settings(worker_memory_bytes=16 * 256)  # room for 16 cells
    try:
        cells, _ = oldbiff.read(bof(version) + rest, "any.xls", small)
    except errors.LimitExceeded:
        return
    assert len(cells) <= 16
