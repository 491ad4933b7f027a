"""Hostile workbooks (issue item 7) are refused cleanly, before calamine sees them (these
tests read in this process; the worker's concurrent read is tested in test_ingestion.py),
with the exact error class and the file (and sheet) named; a normal file is read right after."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import xlsxwriter

from bench import xlsb
from service import errors
from service.ingest import Source, biff, guards
from service.ingest.formats import FileFormat
from service.settings import Settings
from tests.ingest.uploads import (
    PROFILE,
    encrypted_archive,
    entity_bomb,
    ingest,
    lying_zip,
    ods_archive,
    ods_content,
    read,
    rezip,
    table_xlsx,
    write_bytes,
    xlsb_source,
    xlsx_source,
)


def read_normal_file_afterwards(tmp_path: Path) -> None:
    rows = read([table_xlsx(tmp_path, "normal.xlsx", [["a"], [1]])])
    assert [row.data for row in rows] == [{"a": 1}]


@pytest.mark.parametrize("with_header", [True, False])
def test_a_cell_at_xfd1048576(tmp_path: Path, with_header: bool) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Far")
        if with_header:
            sheet.write("A1", "header")
        sheet.write("XFD1048576", "far away")

    with pytest.raises(errors.LimitExceeded) as refused:
        ingest([xlsx_source(tmp_path, "far.xlsx", build)], PROFILE)
    error = refused.value
    assert (error.limit, error.file, error.sheet, error.row, error.column) == (
        "max_columns",
        "far.xlsx",
        "Far",
        1048576,
        "XFD",
    )
    read_normal_file_afterwards(tmp_path)


def test_16384_columns(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Wide")
        sheet.write_row(0, 0, [f"c{n}" for n in range(16384)])

    with pytest.raises(errors.LimitExceeded) as refused:
        ingest([xlsx_source(tmp_path, "wide.xlsx", build)])
    error = refused.value
    assert (error.limit, error.value, error.file, error.sheet, error.column) == (
        "max_columns",
        1000,
        "wide.xlsx",
        "Wide",
        "XFD",
    )
    read_normal_file_afterwards(tmp_path)


def test_a_used_range_too_large_for_memory(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Sparse")
        sheet.write("A1", "header")
        sheet.write("ALL1048576", "far down, within max_columns")

    with pytest.raises(errors.LimitExceeded) as refused:
        ingest([xlsx_source(tmp_path, "sparse.xlsx", build)])
    error = refused.value
    assert (error.limit, error.value, error.file, error.sheet) == (
        "worker_memory_bytes",
        Settings().worker_memory_bytes,
        "sparse.xlsx",
        "Sparse",
    )
    assert "1,048,576 rows x 1,000 columns" in error.detail
    read_normal_file_afterwards(tmp_path)


def test_styled_empty_far_cells_are_not_data(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Styled")
        sheet.write_row(0, 0, ["a"])
        sheet.write_row(1, 0, [1])
        sheet.write_blank("XFD2", None, book.add_format({"bold": True}))

    rows = read([xlsx_source(tmp_path, "styled.xlsx", build)])
    assert [row.data for row in rows] == [{"a": 1}]


def test_xlsb_a_cell_at_xfd1048576(tmp_path: Path) -> None:
    sheet = xlsb.Sheet("Far", {0: ["header"], 1048575: [None] * 16383 + ["far away"]})
    source = xlsb_source(tmp_path, "far.xlsb", [sheet])
    with pytest.raises(errors.LimitExceeded) as refused:
        ingest([source])
    error = refused.value
    assert (error.limit, error.file, error.sheet, error.row, error.column) == (
        "max_columns",
        "far.xlsb",
        "Far",
        1048576,
        "XFD",
    )
    read_normal_file_afterwards(tmp_path)


def test_xlsb_a_used_range_too_large_for_memory(tmp_path: Path) -> None:
    sheet = xlsb.Sheet("Sparse", {0: ["header"], 1048575: [None] * 999 + ["far"]})
    source = xlsb_source(tmp_path, "sparse.xlsb", [sheet])
    with pytest.raises(errors.LimitExceeded) as refused:
        ingest([source], PROFILE)
    assert (refused.value.limit, refused.value.sheet) == ("worker_memory_bytes", "Sparse")
    assert "1,048,576 rows x 1,000 columns" in refused.value.detail
    read_normal_file_afterwards(tmp_path)


def test_xlsb_styled_empty_far_cells_are_not_data(tmp_path: Path) -> None:
    sheet = xlsb.Sheet("Styled", [["a"], [1, *[None] * 16382, xlsb.BLANK]])
    rows = read([xlsb_source(tmp_path, "styled.xlsb", [sheet])])
    assert [row.data for row in rows] == [{"a": 1}]


def test_xlsb_records_are_read_across_any_chunk_boundary() -> None:
    """Records cut anywhere, 2-byte types and sizes, a record longer than a chunk: fed in
    pieces of any size, the sheet gives what it gives when fed whole."""
    rows = [
        ["é" * 200, "x"],  # a 408-byte string: its size takes two bytes
        [1.5, xlsb.ErrorValue("#DIV/0!"), None, xlsb.BLANK],
        [],
        [None, None, xlsb.FormulaError("#N/A"), "z" * 5000],
    ]
    part = xlsb.sheet_part(xlsb.Sheet("S", rows, first_row=3))
    whole = biff.XlsbCells(max_columns=3)
    whole.feed(part)
    assert (whole.rows, whole.columns, whole.too_wide) == (7, 4, (6, 3))
    assert whole.errors == {(4, 1): 0x07, (6, 2): 0x2A}
    for size in (1, 2, 3, 5, 7, 11, 64, 4096):
        cut = biff.XlsbCells(max_columns=3)
        for at in range(0, len(part), size):
            cut.feed(part[at : at + size])
        assert (cut.rows, cut.columns, cut.too_wide, cut.errors, cut.carry) == (
            whole.rows,
            whole.columns,
            whole.too_wide,
            whole.errors,
            b"",
        ), size


def test_more_rows_than_the_limit(tmp_path: Path) -> None:
    source = table_xlsx(tmp_path, "rows.xlsx", [["n"]] + [[n] for n in range(300)])
    with pytest.raises(errors.LimitExceeded) as refused:
        ingest([source], settings=Settings(max_rows=250))
    error = refused.value
    assert (error.limit, error.value, error.file, error.sheet, error.row) == (
        "max_rows",
        250,
        "rows.xlsx",
        "Data",
        252,
    )
    read_normal_file_afterwards(tmp_path)


def test_xml_entity_bomb(tmp_path: Path) -> None:
    source = entity_bomb(tmp_path)
    with pytest.raises(errors.CorruptFile, match="entity bomb") as refused:
        ingest([source])
    assert refused.value.file == "lol.xlsx"
    read_normal_file_afterwards(tmp_path)


def test_zip_bomb_by_declared_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guards, "INFLATE_FLOOR", 1024 * 1024)
    source = rezip(
        table_xlsx(tmp_path, "x", [["a"], [1]]), "bomb.xlsx", {"xl/media/zeros.bin": bytes(4 << 20)}
    )
    with pytest.raises(errors.CorruptFile, match="zip bomb") as refused:
        ingest([source])
    assert refused.value.file == "bomb.xlsx"
    read_normal_file_afterwards(tmp_path)


def test_zip_bomb_lying_about_its_size(tmp_path: Path) -> None:
    archive = tmp_path / "lie"
    archive.write_bytes(lying_zip(b"<row/>" * (3 << 20), declared=1000))
    with pytest.raises(errors.CorruptFile) as refused:
        guards.inspect_archive(archive, "lie.xlsx", FileFormat.XLSX, Settings())
    assert refused.value.file == "lie.xlsx"


def test_inflated_bytes_are_counted_up_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guards, "INFLATE_FLOOR", 1024 * 1024)
    archive = tmp_path / "lie"
    archive.write_bytes(lying_zip(b"\x00" * (8 << 20), declared=900 * 1024))
    budget = guards._InflateBudget(1024 * 1024, "lie.xlsx")
    produced: list[int] = []

    def inflate_all() -> None:
        with zipfile.ZipFile(archive) as opened, archive.open("rb") as stream:
            (member,) = opened.infolist()
            for chunk in guards._inflate(stream, member, budget):
                produced.append(len(chunk))

    with pytest.raises(errors.CorruptFile, match=r"holds 1,048,576\+ bytes"):
        inflate_all()
    # Inflation stopped at the first chunk past the declared size, not at 8 MiB.
    assert sum(produced) < 1024 * 1024


def test_ods_repeated_cells_past_the_column_limit(tmp_path: Path) -> None:
    content = ods_content(
        b'<table:table table:name="Rep"><table:table-row>'
        b'<table:table-cell office:value-type="string"><text:p>h</text:p></table:table-cell>'
        b"</table:table-row>"
        b'<table:table-row table:number-rows-repeated="1048575">'
        b'<table:table-cell table:number-columns-repeated="16383"/>'
        b'<table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell>'
        b"</table:table-row></table:table>"
    )
    path = tmp_path / "rep"
    path.write_bytes(ods_archive(content))
    with pytest.raises(errors.LimitExceeded) as refused:
        ingest([Source(path, "rep.ods")])
    error = refused.value
    assert (error.limit, error.file, error.sheet, error.row, error.column) == (
        "max_columns",
        "rep.ods",
        "Rep",
        2,
        "XFD",
    )
    read_normal_file_afterwards(tmp_path)


def test_ods_repeated_rows_past_the_memory_budget(tmp_path: Path) -> None:
    content = ods_content(
        b'<table:table table:name="Tall">'
        b'<table:table-row table:number-rows-repeated="1048576">'
        b'<table:table-cell office:value-type="string" table:number-columns-repeated="900">'
        b"<text:p>x</text:p></table:table-cell>"
        b"</table:table-row></table:table>"
    )
    path = tmp_path / "tall"
    path.write_bytes(ods_archive(content))
    with pytest.raises(errors.LimitExceeded) as refused:
        ingest([Source(path, "tall.ods")])
    assert (refused.value.limit, refused.value.file, refused.value.sheet) == (
        "worker_memory_bytes",
        "tall.ods",
        "Tall",
    )


def test_too_many_archive_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guards, "MAX_MEMBERS", 20)
    members = {f"xl/media/{n}.bin": b"x" for n in range(30)}
    source = rezip(table_xlsx(tmp_path, "x", [["a"]]), "crowd.xlsx", members)
    with pytest.raises(errors.CorruptFile, match="archive members") as refused:
        ingest([source])
    assert refused.value.file == "crowd.xlsx"


def test_encrypted_members_are_refused(tmp_path: Path) -> None:
    data = encrypted_archive(table_xlsx(tmp_path, "x", [["a"]]).path.read_bytes())
    with pytest.raises(errors.CorruptFile) as refused:
        ingest([write_bytes(tmp_path, "locked.xlsx", data)])
    assert refused.value.file == "locked.xlsx"
