"""Values in the shapes of spec §4.3, safe for JSON and jsonb (NUL, surrogates, NaN,
integers beyond ±2^53), end to end through msgspec as the worker encodes them."""

from __future__ import annotations

import datetime as dt
import math
import zipfile
from pathlib import Path

import msgspec
import pytest

from service.entities import RowStatus
from service.ingest import Source
from service.ingest.values import (
    BIG_INTEGER,
    NOT_FINITE,
    NUL_REMOVED,
    convert_cell,
    header_text,
)
from tests.ingest.uploads import read, table_xlsx, write_bytes


@pytest.mark.parametrize(
    ("cell", "value", "message"),
    [
        ("  text  ", "text", None),
        ("   ", None, None),
        ("", None, None),
        ("a\x00b", "ab", NUL_REMOVED),
        (3.0, 3, None),
        (-2.5, -2.5, None),
        (1e20, 1e20, None),
        (float(2**53), 2**53, None),
        (math.nan, None, NOT_FINITE),
        (-math.inf, None, NOT_FINITE),
        (7, 7, None),
        (2**60, "1152921504606846976", BIG_INTEGER),
        (-(2**63), "-9223372036854775808", BIG_INTEGER),
        (True, True, None),
        (dt.date(2024, 2, 29), "2024-02-29", None),
        (dt.datetime(2024, 1, 2, 3, 4, 5, 600_000), "2024-01-02T03:04:06", None),
        (dt.datetime(2024, 12, 31, 23, 59, 59, 999_999), "2025-01-01T00:00:00", None),
        (dt.time(7, 5, 9), "07:05:09", None),
        (dt.time(7, 5, 9, 500_000), "07:05:10", None),
        (dt.timedelta(hours=36, minutes=5), "36:05:00", None),
        (dt.timedelta(seconds=-90), "-00:01:30", None),
    ],
)
def test_convert_cell(cell: object, value: object, message: str | None) -> None:
    converted, repaired = convert_cell(cell)
    assert (converted, repaired) == (value, message)
    assert type(converted) is type(value)


def test_header_text_is_exact_but_jsonb_safe() -> None:
    assert header_text("  Nome  ") == "  Nome  "
    assert header_text("a\x00\ud800") == "a\ufffd"
    assert header_text(2024.0) == "2024"
    assert header_text(True) == "TRUE"
    assert header_text(dt.date(2024, 1, 2)) == "2024-01-02"
    assert header_text("") == ""


def test_not_finite_numbers_in_a_workbook(tmp_path: Path) -> None:
    source = table_xlsx(tmp_path, "x", [["a", "b"], [1, 2], [3, 4]])
    hostile = tmp_path / "nan"
    with zipfile.ZipFile(source.path) as original, zipfile.ZipFile(hostile, "w") as copy:
        for member in original.infolist():
            content = original.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b'<c r="A2"><v>1</v>', b'<c r="A2"><v>NaN</v>')
                content = content.replace(b'<c r="B3"><v>4</v>', b'<c r="B3"><v>inf</v>')
            copy.writestr(member, content)
    rows = read([Source(hostile, "nan.xlsx")])
    assert [row.data for row in rows] == [{"a": None, "b": 2}, {"a": 3, "b": None}]
    assert [(m.field, m.type, m.message) for m in rows[0].validation_messages] == [
        ("a", "sanitized", NOT_FINITE)
    ]
    assert [(m.field, m.type) for m in rows[1].validation_messages] == [("b", "sanitized")]
    assert [row.status for row in rows] == [RowStatus.WARNING, RowStatus.WARNING]


def test_every_row_encodes_to_json_without_nul(tmp_path: Path) -> None:
    content = b"\xff\xfe" + "k\x00,v\n\x00a\ud800,\x00\n".encode("utf-16-le", "surrogatepass")
    rows = read([write_bytes(tmp_path, "bad.csv", content)])
    encoded = msgspec.json.encode(rows)
    assert b"\\u0000" not in encoded
    assert msgspec.json.decode(encoded)[0][1] == {"k": "a\ufffd", "v": None}
