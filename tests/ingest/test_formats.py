"""Format detection by content, with the extension required to agree (spec §4.1)."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from service import errors
from service.ingest.formats import FileFormat, detect_format
from service.ingest.plans import Source
from tests.ingest.uploads import (
    ODS_MANIFEST,
    csv_source,
    ingest,
    ods_source,
    read,
    table_xlsx,
    write_bytes,
    xls_record,
    zip_source,
)

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


@pytest.mark.parametrize("name", ["a.xlsx", "A.XLSX", "macro.xlsm", "C:\\Users\\ana\\b.xlsx"])
def test_xlsx_content_with_an_xlsx_name(tmp_path: Path, name: str) -> None:
    source = table_xlsx(tmp_path, name, [["a"], [1]])
    assert detect_format(source.path, source.name) is FileFormat.XLSX


@pytest.mark.parametrize("name", ["a.csv", "a.tsv", "a.txt"])
def test_text_with_a_text_name(tmp_path: Path, name: str) -> None:
    source = csv_source(tmp_path, name, "a\tb\n1\t2\n")
    assert detect_format(source.path, source.name) is FileFormat.CSV


def test_ods_and_xls_and_xlsb_by_content(tmp_path: Path) -> None:
    ods = ods_source(tmp_path, "a.ods", {"S": [["a"]]})
    assert detect_format(ods.path, ods.name) is FileFormat.ODS
    xls = write_bytes(tmp_path, "a.xls", OLE2)
    assert detect_format(xls.path, xls.name) is FileFormat.XLS
    xlsb = zip_source(
        tmp_path, "a.xlsb", {"[Content_Types].xml": b"<Types/>", "xl/workbook.bin": b"\x00"}
    )
    assert detect_format(xlsb.path, xlsb.name) is FileFormat.XLSB


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("data.csv", "xlsx", "an Excel .xlsx/.xlsm workbook"),
        ("data.xlsx", "csv", "plain text"),
        ("export.xls", "html", "plain text"),
        ("data.xlsx", "ole2", "an OLE2 file (a legacy .xls workbook, or a password-protected"),
        ("report.xlsx", "docx", "not a spreadsheet"),
        ("photo.csv", "png", "not a spreadsheet"),
        ("data.ods", "xlsx", "an Excel .xlsx/.xlsm workbook"),
    ],
)
def test_extension_must_agree_with_content(
    tmp_path: Path, name: str, content: str, says: str
) -> None:
    if content == "xlsx":
        source = table_xlsx(tmp_path, name, [["a"]])
    elif content == "csv":
        source = csv_source(tmp_path, name, "a,b\n1,2\n")
    elif content == "html":
        source = csv_source(tmp_path, name, "<table><tr><td>a</td></tr></table>")
    elif content == "ole2":
        source = write_bytes(tmp_path, name, OLE2)
    elif content == "docx":
        source = zip_source(
            tmp_path, name, {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}
        )
    else:
        source = write_bytes(tmp_path, name, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(errors.UnsupportedFormat) as refused:
        ingest([source])
    assert refused.value.file == name
    assert says in refused.value.detail


@pytest.mark.parametrize("name", ["report.pdf", "noextension", "data.json"])
def test_unknown_extensions_are_unsupported(tmp_path: Path, name: str) -> None:
    with pytest.raises(errors.UnsupportedFormat, match="not a supported file type") as refused:
        ingest([csv_source(tmp_path, name, "a\n1\n")])
    assert refused.value.file == name


def test_damaged_containers_are_corrupt(tmp_path: Path) -> None:
    with pytest.raises(errors.CorruptFile) as zipped:
        ingest([write_bytes(tmp_path, "cut.xlsx", b"PK\x03\x04" + b"\x00" * 100)])
    assert zipped.value.file == "cut.xlsx"
    with pytest.raises(errors.CorruptFile) as ole:
        ingest([write_bytes(tmp_path, "bad.xls", OLE2)])
    assert ole.value.file == "bad.xls"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook><sheets>")
        archive.writestr("xl/_rels/workbook.xml.rels", "<Relationships/>")
    with pytest.raises(errors.CorruptFile) as xml:
        ingest([write_bytes(tmp_path, "broken.xlsx", buffer.getvalue())])
    assert xml.value.file == "broken.xlsx"
    with pytest.raises(errors.CorruptFile) as xlsb:
        ingest(
            [
                zip_source(
                    tmp_path, "a.xlsb", {"[Content_Types].xml": b"<Types/>", "xl/workbook.bin": b""}
                )
            ]
        )
    assert xlsb.value.file == "a.xlsb"


def test_an_excel_archive_claiming_to_be_opendocument_is_excel(tmp_path: Path) -> None:
    """calamine reads such a polyglot as Excel, so the guards must see it as Excel too."""
    buffer = io.BytesIO()
    workbook = table_xlsx(tmp_path, "x", [["a"]])
    with zipfile.ZipFile(workbook.path) as original, zipfile.ZipFile(buffer, "w") as polyglot:
        polyglot.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        for member in original.infolist():
            polyglot.writestr(member, original.read(member))
    source = write_bytes(tmp_path, "mixed.xlsx", buffer.getvalue())
    assert detect_format(source.path, source.name) is FileFormat.XLSX
    as_ods = write_bytes(tmp_path, "mixed.ods", buffer.getvalue())
    with pytest.raises(errors.UnsupportedFormat, match=r"an Excel \.xlsx/\.xlsm workbook"):
        detect_format(as_ods.path, as_ods.name)


def test_text_with_an_archive_appended_is_not_text(tmp_path: Path) -> None:
    text = b"a,b\n" + b"1,2\n" * 20_000
    archive = table_xlsx(tmp_path, "x", [["a"]]).path.read_bytes()
    source = write_bytes(tmp_path, "poly.csv", text + archive)
    with pytest.raises(errors.UnsupportedFormat, match="not a spreadsheet"):
        detect_format(source.path, source.name)
    long_text = write_bytes(tmp_path, "long.csv", text + b"3,4\n" * 20_000)
    assert detect_format(long_text.path, long_text.name) is FileFormat.CSV


def _reordered(tmp_path: Path, source_path: Path, name: str, order: str) -> Path:
    """The members of an ods archive again, in another order, or without `mimetype`."""
    with zipfile.ZipFile(source_path) as original:
        members = [(info, original.read(info)) for info in original.infolist()]
    mimetype = [member for member in members if member[0].filename == "mimetype"]
    others = [member for member in members if member[0].filename != "mimetype"]
    arranged = {
        "first": mimetype + others,
        "last": others + mimetype,
        "middle": others[:1] + mimetype + others[1:],
        "reversed": list(reversed(members)),
        "missing": others,
        "missing-reversed": list(reversed(others)),
    }[order]
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in arranged:
            archive.writestr(info.filename, data)
    return path


@pytest.mark.parametrize(
    "order", ["first", "last", "middle", "reversed", "missing", "missing-reversed"]
)
def test_an_ods_is_known_by_its_content_whatever_the_order_of_its_members(
    tmp_path: Path, order: str
) -> None:
    written = ods_source(tmp_path, "a.ods", {"Pessoas": [["nome", "idade"], ["Ana", 30]]})
    path = _reordered(tmp_path, written.path, f"{order}.ods", order)
    assert detect_format(path, f"{order}.ods") is FileFormat.ODS
    rows = read([Source(path, f"{order}.ods")])
    assert [row.data for row in rows] == [{"nome": "Ana", "idade": 30}]


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"}, "odt"),
        (
            {
                "content.xml": b"<x/>",
                "META-INF/manifest.xml": ODS_MANIFEST.replace(
                    b"opendocument.spreadsheet", b"opendocument.text"
                ),
            },
            "manifest of a text",
        ),
        ({"content.xml": b"<x/>", "META-INF/manifest.xml": b"<manifest/>"}, "no root entry"),
        ({"content.xml": b"<x/>"}, "no manifest"),
        ({"META-INF/manifest.xml": ODS_MANIFEST}, "no content"),
    ],
)
def test_other_opendocument_files_are_not_spreadsheets(
    tmp_path: Path, members: dict[str, bytes], why: str
) -> None:
    source = zip_source(tmp_path, "doc.ods", members)
    with pytest.raises(errors.UnsupportedFormat, match="not a spreadsheet"):
        detect_format(source.path, source.name)


def old_excel_worksheet(bof: int, body: bytes) -> bytes:
    """A bare BIFF2-4 worksheet stream (Excel 2.x to 4.0): BOF, one NUMBER cell, EOF."""
    number = 0x0003 if bof == 0x0009 else 0x0203
    cell = struct.pack("<HH", 0, 0) + (b"\x00\x00\x00" if bof == 0x0009 else b"\x0f\x00")
    return (
        xls_record(bof, body)
        + xls_record(number, cell + struct.pack("<d", 41.0))
        + xls_record(0x000A)
    )


@pytest.mark.parametrize(
    ("bof", "body"),
    [
        (0x0409, struct.pack("<HHH", 0, 0x0010, 0)),
        (0x0209, struct.pack("<HHH", 0, 0x0010, 0)),
        (0x0009, struct.pack("<HH", 2, 0x0010)),
    ],
)
def test_an_excel_2_to_4_worksheet_is_an_xls(tmp_path: Path, bof: int, body: bytes) -> None:
    """A bare BIFF2-4 worksheet stream, not OLE2 (issue 13: 415 "not a spreadsheet" before)."""
    source = write_bytes(tmp_path, "old.xls", old_excel_worksheet(bof, body))
    assert detect_format(source.path, source.name) is FileFormat.XLS
    misnamed = write_bytes(tmp_path, "old.xlsx", old_excel_worksheet(bof, body))
    with pytest.raises(errors.UnsupportedFormat) as refused:
        detect_format(misnamed.path, misnamed.name)
    assert "its content is an Excel 2.x-4.0 worksheet" in str(refused.value)


@pytest.mark.parametrize(
    ("sheet", "said"),
    [
        (0x0100, "Excel 4.0 file (a workbook, a BIFF4 record stream)"),
        (0x0020, "Excel 4.0 file (a chart, a BIFF4 record stream)"),
        (0x0040, "Excel 4.0 file (a macro sheet, a BIFF4 record stream)"),
    ],
)
@pytest.mark.parametrize("name", ["old.xls", "old.xlsx", "old.csv"])
def test_an_excel_4_workbook_chart_or_macro_sheet_is_refused_saying_so(
    tmp_path: Path, sheet: int, said: str, name: str
) -> None:
    """Not "not a spreadsheet": which Excel wrote it, and what to do."""
    data = old_excel_worksheet(0x0409, struct.pack("<HHH", 0, sheet, 0))
    source = write_bytes(tmp_path, name, data)
    with pytest.raises(errors.UnsupportedFormat) as refused:
        detect_format(source.path, source.name)
    assert said in str(refused.value)
    assert "save it as .xlsx" in str(refused.value)


def test_text_that_starts_like_a_biff_record_is_still_text(tmp_path: Path) -> None:
    source = csv_source(tmp_path, "a.csv", "\t\x00a,b\n1,2\n")
    assert detect_format(source.path, source.name) is FileFormat.CSV
