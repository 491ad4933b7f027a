"""The record walks of `service/ingest/biff.py` on any bytes: they never raise (a damaged
file is calamine's to refuse), and an xlsb sheet part cut into chunks anywhere reads as it
reads whole. Examples are bounded and derandomized."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import xlsb
from service.ingest import biff
from tests.ingest.uploads import xls_record

bounded = settings(max_examples=200, deadline=None, database=None, derandomize=True)

PART = xlsb.sheet_part(
    xlsb.Sheet(
        "S",
        [
            ["a", "b" * 300, 1.5, True],
            [xlsb.ErrorValue("#N/A"), xlsb.BLANK, None, xlsb.FormulaError("#REF!")],
        ],
        first_row=2,
    )
)


def damaged(data: bytes) -> st.SearchStrategy[bytes]:
    """`data` truncated, with bytes overwritten, or with bytes inserted."""
    at = st.integers(0, len(data))
    return st.one_of(
        at.map(lambda cut: data[:cut]),
        st.tuples(at, st.binary(min_size=1, max_size=8)).map(
            lambda edit: data[: edit[0]] + edit[1] + data[edit[0] + len(edit[1]) :]
        ),
        st.tuples(at, st.binary(min_size=1, max_size=8)).map(
            lambda edit: data[: edit[0]] + edit[1] + data[edit[0] :]
        ),
    )


def state(cells: biff.XlsbCells) -> tuple[object, ...]:
    return (cells.rows, cells.columns, cells.too_wide, cells.errors)


@given(data=st.one_of(st.binary(max_size=600), damaged(PART)), cuts=st.lists(st.integers(0, 700)))
@bounded
def test_an_xlsb_part_reads_the_same_whole_or_in_chunks_and_never_raises(
    data: bytes, cuts: list[int]
) -> None:
    whole = biff.XlsbCells(max_columns=3)
    whole.feed(data)
    chunked = biff.XlsbCells(max_columns=3)
    bounds = [0, *sorted(cut for cut in cuts if cut < len(data)), len(data)]
    for start, end in itertools.pairwise(bounds):
        chunked.feed(data[start:end])
    assert state(chunked) == state(whole)


def test_the_undamaged_part_gives_its_extent_and_error_cells() -> None:
    cells = biff.XlsbCells(max_columns=3)
    cells.feed(PART)
    assert state(cells) == (4, 4, (2, 3), {(3, 0): 0x2A, (3, 3): 0x17})


SHEET_AT = 4 + 16 + 4 + 2 + 4 + 13 + 4  # right after the globals below
XLS_STREAM = (
    xls_record(0x0809, struct.pack("<HH", 0x0600, 0x0005) + bytes(12))
    + xls_record(0x0042, struct.pack("<H", 1200))
    + xls_record(0x0085, struct.pack("<IBBBB", SHEET_AT, 0, 0, 5, 0) + b"Sheet")
    + xls_record(0x000A)
    + xls_record(0x0809, struct.pack("<HH", 0x0600, 0x0010) + bytes(12))
    + xls_record(0x0205, struct.pack("<HHHBB", 1, 2, 0, 0x07, 1))
    + xls_record(0x0006, struct.pack("<HHH", 3, 0, 0) + bytes([2, 0, 0x2A, 0, 0, 0, 255, 255]))
    + xls_record(0x000A)
)


def test_an_xls_stream_gives_its_error_cells() -> None:
    assert biff.xls_stream_error_cells(XLS_STREAM) == {"Sheet": {"C2": "#DIV/0!", "A4": "#N/A"}}


@pytest.mark.parametrize("version", [0x0200, 0x0400])
def test_an_xls_older_than_biff5_gives_none(version: int) -> None:
    old = XLS_STREAM.replace(struct.pack("<HH", 0x0600, 0x0005), struct.pack("<HH", version, 5))
    assert biff.xls_stream_error_cells(old) == {}


@given(data=st.one_of(st.binary(max_size=600), damaged(XLS_STREAM)))
@bounded
def test_any_xls_stream_gives_an_answer(data: bytes) -> None:
    found = biff.xls_stream_error_cells(data)
    assert all(isinstance(text, str) for cells in found.values() for text in cells.values())
