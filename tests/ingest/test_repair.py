"""Workbooks that LibreOffice reads and python-calamine 0.9.1 refuses, read from a repaired
copy (`ingest.repair`): an indented ods (KSpread), an xlsx with padded numbers (openxlsx)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service import errors
from service.ingest import Source, repair
from service.ingest.formats import FileFormat
from tests.ingest.uploads import (
    indented_ods,
    ingest,
    ods_archive,
    ods_content,
    padded,
    table_xlsx,
    two_sheets,
    types,
)


@pytest.mark.parametrize("mimetype", [True, False])
def test_an_indented_ods_is_read_as_libreoffice_reads_it(tmp_path: Path, mimetype: bool) -> None:
    source = Source(indented_ods(tmp_path, mimetype=mimetype), "pythagoras-kspread.ods")
    found, rows = ingest([source])
    assert types(found) == {"cidade": "string", "hab": "number"}
    assert [(row.source_sheet_name, row.source_row_index, row.data) for row in rows] == [
        ("Sheet1", 2, {"cidade": "New York", "hab": 8.3}),
        ("Sheet1", 3, {"cidade": "Rio\nde Janeiro", "hab": 6}),
    ]


def test_an_xlsx_with_padded_numbers_is_read_whole_in_list_mode(tmp_path: Path) -> None:
    source = padded(two_sheets(tmp_path), "datasets.xlsx")
    found, rows = ingest([source])
    assert types(found) == {"species": "string", "length": "number", "stations": "integer"}
    assert [(row.source_sheet_name, row.data) for row in rows] == [
        ("iris", {"species": "setosa", "length": 5.1, "stations": None}),
        ("quakes", {"species": "virginica", "length": 6.5, "stations": 41}),
        ("quakes", {"species": "versicolor", "length": 7, "stations": 15}),
    ]


def test_an_xlsx_sheet_with_padded_numbers_alone(tmp_path: Path) -> None:
    """The one-pass read of a single sheet (named), and a sheet of a single-sheet book."""
    source = padded(two_sheets(tmp_path), "datasets.xlsx")
    _, rows = ingest([source], sheet="quakes")
    assert [row.data["stations"] for row in rows] == [41, 15]
    single = padded(
        table_xlsx(tmp_path, "x.xlsx", [["n"], [1], [2.5]]),
        "one.xlsx",
        "xl/worksheets/sheet1.xml",
    )
    _, rows = ingest([single])
    assert [row.data for row in rows] == [{"n": 1}, {"n": 2.5}]


def test_a_workbook_calamine_cannot_read_says_why_whatever_its_path(tmp_path: Path) -> None:
    """The spooled upload's path has no extension: calamine, which picks its reader by the
    extension, used to answer "Cannot detect file format" for a damaged ods."""
    content = ods_content(
        b'<table:table table:name="S"><table:table-row>'
        b'<table:table-cell office:value-type="float" office:value="x1"><text:p>1</text:p>'
        b"</table:table-cell></table:table-row></table:table>"
    )
    path = tmp_path / "upload-0"
    path.write_bytes(ods_archive(content))
    with pytest.raises(errors.CorruptFile) as refused:
        ingest([Source(path, "broken.ods")])
    assert "Cannot detect file format" not in str(refused.value)
    assert "Parse float error" in str(refused.value)


def test_nothing_to_repair_gives_no_copy_and_the_error_stands(tmp_path: Path) -> None:
    source = table_xlsx(tmp_path, "x.xlsx", [["n"], [1]])
    assert repair.repaired_copy(source.path, FileFormat.XLSX) is None
    assert repair.repaired_copy(source.path, FileFormat.XLSB) is None
    junk = tmp_path / "junk"
    junk.write_bytes(b"PK\x03\x04 not really")
    assert repair.repaired_copy(junk, FileFormat.ODS) is None


def test_string_and_error_values_keep_their_spaces() -> None:
    rewriter = repair.XlsxNumbers()
    xml = (
        b'<row r="1"><c r="A1"><v> 41</v></c><c r="B1" t="str"><f>A1&amp;" "</f><v> 41 </v></c>'
        b'<c r="C1" t="e"><v> #N/A</v></c><c r="D1" t="s"><v>3 </v></c>'
        b'<c r="E1"><f>1+1</f><v>2\n</v></c><c r="F1" s="1"/></row>'
    )
    assert rewriter.feed(xml) + rewriter.finish() == (
        b'<row r="1"><c r="A1"><v>41</v></c><c r="B1" t="str"><f>A1&amp;" "</f><v> 41 </v></c>'
        b'<c r="C1" t="e"><v> #N/A</v></c><c r="D1" t="s"><v>3</v></c>'
        b'<c r="E1"><f>1+1</f><v>2</v></c><c r="F1" s="1"/></row>'
    )
    assert rewriter.changed


def test_whitespace_inside_a_paragraph_is_kept() -> None:
    rewriter = repair.OdsWhitespace()
    xml = (
        b'<table:table-row>\n <table:table-cell office:value-type="string">\n  '
        b"<text:p>  <text:span>a</text:span> <text:s/> b </text:p>\n  <text:p> </text:p>\n"
        b" </table:table-cell>\n</table:table-row>"
    )
    assert rewriter.feed(xml) + rewriter.finish() == (
        b'<table:table-row><table:table-cell office:value-type="string">'
        b"<text:p>  <text:span>a</text:span> <text:s/> b </text:p><text:p> </text:p>"
        b"</table:table-cell></table:table-row>"
    )


def _chunked(rewriter: repair.OdsWhitespace | repair.XlsxNumbers, data: bytes, cuts: list[int]):
    pieces = []
    at = 0
    for cut in sorted(cuts):
        pieces.append(rewriter.feed(data[at:cut]))
        at = cut
    pieces.append(rewriter.feed(data[at:]))
    pieces.append(rewriter.finish())
    return b"".join(pieces)


_XML_BITS = st.sampled_from(
    [
        b"<table:table-row>",
        b"</table:table-row>",
        b'<table:table-cell office:value="1">',
        b"</table:table-cell>",
        b"<table:covered-table-cell/>",
        b"<text:p>",
        b"</text:p>",
        b"<text:span>",
        b"</text:span>",
        b"<text:s/>",
        b'<c r="A1">',
        b'<c r="B2" t="str">',
        b"<v>",
        b"</v>",
        b"</c>",
        b"<f>1</f>",
        b" ",
        b"\n  ",
        b"\t",
        b"41",
        b"x y",
        b"<",
        b">",
        b"\xc3\xa9",
    ]
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    bits=st.lists(_XML_BITS, max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    ods=st.booleans(),
)
def test_the_rewrite_is_the_same_in_chunks_of_any_size(
    bits: list[bytes], cuts: list[int], ods: bool
) -> None:
    """Never raises on any bytes, and the chunks a member is inflated in change nothing."""
    data = b"".join(bits)
    kind = repair.OdsWhitespace if ods else repair.XlsxNumbers
    whole = kind()
    at_once = whole.feed(data) + whole.finish()
    assert _chunked(kind(), data, [cut for cut in cuts if cut <= len(data)]) == at_once
    assert len(at_once) <= len(data)
    assert at_once.replace(b" ", b"").replace(b"\n", b"").replace(b"\t", b"") == data.replace(
        b" ", b""
    ).replace(b"\n", b"").replace(b"\t", b"")


def test_a_long_text_without_tags_is_passed_on_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """The carry is bounded: past `MAX_CARRY` bytes without a place to cut, they go as they are."""
    monkeypatch.setattr(repair, "MAX_CARRY", 64)
    for kind in (repair.OdsWhitespace, repair.XlsxNumbers):
        rewriter = kind()
        assert rewriter.feed(b"<a>" + b"x" * 100) == b"<a>" + b"x" * 100
        assert rewriter.carry == b""
