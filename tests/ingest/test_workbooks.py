"""Workbook ingestion (spec §4.2, §4.3) through python-calamine: xlsx, xls, xlsb, ods."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path
from typing import Any

import olefile
import pytest
import xlsxwriter
import xlwt
from python_calamine import CalamineSheet, CalamineWorkbook

from bench import xlsb
from service import errors
from service.entities import RowStatus
from service.ingest import Parser, Source, guards
from service.settings import Settings
from tests.ingest.uploads import (
    LIST,
    PROFILE,
    ingest,
    keys,
    messages,
    ods_archive,
    ods_content,
    ods_source,
    read,
    table_xlsx,
    types,
    xls_record,
    xls_source,
    xlsb_source,
    xlsx_source,
)


def test_typed_cells_keep_their_types(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        date = book.add_format({"num_format": "yyyy-mm-dd"})
        moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        clock = book.add_format({"num_format": "hh:mm:ss"})
        span = book.add_format({"num_format": "[h]:mm:ss"})
        sheet.write_row(0, 0, ["int", "num", "flag", "day", "at", "time", "span", "code", "text"])
        sheet.write_number(1, 0, 42.0)
        sheet.write_number(1, 1, 1.5)
        sheet.write_boolean(1, 2, True)
        sheet.write_datetime(1, 3, dt.datetime(2024, 2, 29), date)
        sheet.write_datetime(1, 4, dt.datetime(2024, 2, 29, 13, 45, 30), moment)
        sheet.write_datetime(1, 5, dt.time(7, 5, 9), clock)
        sheet.write_number(1, 6, 1.5, span)
        sheet.write_string(1, 7, "00123")
        sheet.write_string(1, 8, "  padded text  ")

    found, rows = ingest([xlsx_source(tmp_path, "typed.xlsx", build)])
    assert rows[0].data == {
        "int": 42,
        "num": 1.5,
        "flag": True,
        "day": "2024-02-29",
        "at": "2024-02-29T13:45:30",
        "time": "07:05:09",
        "span": "36:00:00",
        "code": "00123",
        "text": "padded text",
    }
    assert type(rows[0].data["int"]) is int
    assert types(found) == {
        "int": "integer",
        "num": "number",
        "flag": "boolean",
        "day": "date",
        "at": "datetime",
        "time": "time",
        "span": "time",
        "code": "string",
        "text": "string",
    }
    assert rows[0].status is RowStatus.VALID
    assert (rows[0].source_sheet_name, rows[0].source_row_index) == ("Data", 2)


def test_formulas_give_cached_values_and_error_cells_become_null_with_an_error(
    tmp_path: Path,
) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Calc")
        sheet.write_row(0, 0, ["a", "b", "sum", "ratio", "label"])
        sheet.write_row(1, 0, [2, 0])
        sheet.write_formula(1, 2, "=A2+B2", None, 2)
        sheet.write_formula(1, 3, "=A2/B2", None, "#DIV/0!")
        sheet.write_formula(1, 4, '="n="&A2', None, "n=2")
        sheet.write_row(2, 0, [3, 1])
        sheet.write_formula(2, 2, "=A3+B3", None, 4)
        sheet.write_formula(2, 3, "=A3/B3", None, 3)
        sheet.write_formula(2, 4, "=NA()", None, "#N/A")

    rows = read([xlsx_source(tmp_path, "calc.xlsx", build)])
    assert [row.data for row in rows] == [
        {"a": 2, "b": 0, "sum": 2, "ratio": None, "label": "n=2"},
        {"a": 3, "b": 1, "sum": 4, "ratio": 3, "label": None},
    ]
    assert [row.status for row in rows] == [RowStatus.ERROR, RowStatus.ERROR]
    assert [(m.field, m.type, m.message) for m in rows[0].validation_messages] == [
        ("ratio", "cell_error", "Excel error #DIV/0! in cell D2")
    ]
    assert [(m.field, m.type, m.message) for m in rows[1].validation_messages] == [
        ("label", "cell_error", "Excel error #N/A in cell E3")
    ]


def test_a_row_holding_only_an_error_cell_is_not_blank(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("S")
        sheet.write_row(0, 0, ["a", "b"])
        sheet.write_row(1, 0, [1, 2])
        sheet.write_formula(2, 1, "=1/0", None, "#DIV/0!")

    rows = read([xlsx_source(tmp_path, "e.xlsx", build)])
    assert [(row.source_row_index, row.data, row.status) for row in rows] == [
        (2, {"a": 1, "b": 2}, RowStatus.VALID),
        (3, {"a": None, "b": None}, RowStatus.ERROR),
    ]
    assert messages(rows[1]) == [("b", "cell_error")]


def test_blank_rows_are_skipped_but_counted_and_offsets_are_real(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Offset")
        sheet.write_row("C3", ["nome", "", "idade"])
        sheet.write_row("C5", ["Ana", "", 30])
        sheet.write_row("C8", ["Bia", "   ", 31])
        sheet.write_string("D9", "   ")  # whitespace only: a blank row
        sheet.write_row("C10", ["Caio", "x", 32])

    found, rows = ingest([xlsx_source(tmp_path, "offset.xlsx", build)])
    assert keys(found) == ["nome", "column_d", "idade"]
    assert [(row.source_row_index, row.data) for row in rows] == [
        (5, {"nome": "Ana", "column_d": None, "idade": 30}),
        (8, {"nome": "Bia", "column_d": None, "idade": 31}),
        (10, {"nome": "Caio", "column_d": "x", "idade": 32}),
    ]


def test_hidden_sheets_are_skipped_and_same_headers_merge_with_sheet_names(
    tmp_path: Path,
) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        first = book.add_worksheet("Jan")
        first.write_row(0, 0, ["Nome", "Valor"])
        first.write_row(1, 0, ["Ana", 10])
        hidden = book.add_worksheet("Secret")
        hidden.write_row(0, 0, ["segredo"])
        hidden.write_row(1, 0, ["x"])
        hidden.hide()
        book.add_worksheet("Empty")
        second = book.add_worksheet("Fev")
        second.write_row(0, 0, ["nome ", "Obs", "VALOR"])
        second.write_row(1, 0, ["Bia", "ok", 20])

    found, rows = ingest([xlsx_source(tmp_path, "months.xlsx", build)])
    assert [
        (c.normalized_key, c.original_header, c.position, c.sheet_names) for c in found.columns
    ] == [
        ("nome", "Nome", 0, ["Jan", "Fev"]),
        ("valor", "Valor", 1, ["Jan", "Fev"]),
        ("obs", "Obs", 2, ["Fev"]),
    ]
    assert [(row.source_sheet_name, row.source_row_index, row.data) for row in rows] == [
        ("Jan", 2, {"nome": "Ana", "valor": 10, "obs": None}),
        ("Fev", 2, {"nome": "Bia", "valor": 20, "obs": "ok"}),
    ]
    assert [row.position for row in rows] == [0, 1]
    # `obs` is filled in every row of the sheets that have it: no `empty` warning on Jan.
    assert rows[0].status is RowStatus.VALID


def test_sheet_option_reads_only_that_sheet_even_hidden(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        book.add_worksheet("One").write_row(0, 0, ["a"])
        hidden = book.add_worksheet("Two")
        hidden.write_row(0, 0, ["b"])
        hidden.write_row(1, 0, ["x"])
        hidden.hide()

    source = xlsx_source(tmp_path, "pick.xlsx", build)
    found, rows = ingest([source], sheet="Two")
    assert keys(found) == ["b"]
    assert [(row.source_sheet_name, row.data) for row in rows] == [("Two", {"b": "x"})]
    assert found.columns[0].sheet_names is None
    with pytest.raises(errors.SheetNotFound) as missing:
        ingest([source], sheet="Three")
    assert (missing.value.file, missing.value.sheet) == ("pick.xlsx", "Three")
    assert "'One', 'Two'" in missing.value.detail


def test_empty_workbook_is_refused(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        book.add_worksheet("S")

    source = xlsx_source(tmp_path, "void.xlsx", build)
    with pytest.raises(errors.CorruptFile, match="every visible sheet is empty") as refused:
        ingest([source])
    assert refused.value.file == "void.xlsx"
    with pytest.raises(errors.CorruptFile, match=r"Sheet 'S' of 'void\.xlsx' is empty"):
        ingest([source], sheet="S")


def test_merged_cells_keep_the_value_in_the_top_left_cell_only(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("M")
        sheet.write_row(0, 0, ["grupo", "item"])
        sheet.merge_range("A2:A3", "Frutas")
        sheet.write_string(1, 1, "maçã")
        sheet.write_string(2, 1, "pera")

    rows = read([xlsx_source(tmp_path, "merged.xlsx", build)])
    assert [row.data for row in rows] == [
        {"grupo": "Frutas", "item": "maçã"},
        {"grupo": None, "item": "pera"},
    ]


def test_big_integers_nan_and_nul_are_made_safe(tmp_path: Path) -> None:
    # xls stores 2**60 as a double: JSON holds it exactly, so it stays a number.
    def build(book: xlwt.Workbook) -> None:
        sheet = book.add_sheet("S")
        for column, header in enumerate(["big", "text"]):
            sheet.write(0, column, header)
        sheet.write(1, 0, float(2**60))
        sheet.write(1, 1, "a\x00b")

    rows = read([xls_source(tmp_path, "safe.xls", build)])
    assert rows[0].data == {"big": float(2**60), "text": "ab"}
    assert [(m.field, m.type) for m in rows[0].validation_messages] == [("text", "sanitized")]


def test_xls_workbook(tmp_path: Path) -> None:
    def build(book: xlwt.Workbook) -> None:
        sheet = book.add_sheet("Plan1")
        date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
        for column, header in enumerate(["Nome", "Nascimento", "Pontos"]):
            sheet.write(0, column, header)
        sheet.write(2, 0, "José")
        sheet.write(2, 1, dt.date(1990, 5, 17), date_style)
        sheet.write(2, 2, 7)
        hidden = book.add_sheet("Oculta")
        hidden.write(0, 0, "x")
        hidden.visibility = 1

    found, rows = ingest([xls_source(tmp_path, "old.xls", build)])
    assert types(found) == {"nome": "string", "nascimento": "date", "pontos": "integer"}
    assert [(row.source_sheet_name, row.source_row_index, row.data) for row in rows] == [
        ("Plan1", 3, {"nome": "José", "nascimento": "1990-05-17", "pontos": 7})
    ]


def test_ods_workbook(tmp_path: Path) -> None:
    source = ods_source(
        tmp_path,
        "calc.ods",
        {"Folha": [["Cidade", "População"], ["São Paulo", 12325232], [None, None], ["Rio", 6.7]]},
    )
    found, rows = ingest([source])
    assert types(found) == {"cidade": "string", "populacao": "number"}
    assert [(row.source_sheet_name, row.source_row_index, row.data) for row in rows] == [
        ("Folha", 2, {"cidade": "São Paulo", "populacao": 12325232}),
        ("Folha", 4, {"cidade": "Rio", "populacao": 6.7}),
    ]


def test_ods_error_cells_are_found_in_the_xml(tmp_path: Path) -> None:
    content = ods_content(
        b'<table:table table:name="Contas">'
        b'<table:table-row><table:table-cell office:value-type="string"><text:p>a</text:p>'
        b'</table:table-cell><table:table-cell office:value-type="string"><text:p>b</text:p>'
        b"</table:table-cell></table:table-row>"
        b'<table:table-row><table:table-cell office:value-type="float" office:value="1">'
        b"<text:p>1</text:p></table:table-cell>"
        b'<table:table-cell table:formula="of:=1/0" office:value-type="string"'
        b' office:string-value="" calcext:value-type="error"><text:p>#DIV/0!</text:p>'
        b"</table:table-cell></table:table-row></table:table>"
    )
    path = tmp_path / "upload"
    path.write_bytes(ods_archive(content))
    rows = read([Source(path, "err.ods")])
    assert rows[0].data == {"a": 1, "b": None}
    assert rows[0].status is RowStatus.ERROR
    assert [(m.field, m.type, m.message) for m in rows[0].validation_messages] == [
        ("b", "cell_error", "Excel error #DIV/0! in cell B2")
    ]


def with_cached_error(source: Source, row: int, column: int, code: int) -> Source:
    """The xls with the cached result of its formula at (row, column), 0-based, made the
    error `code`: xlwt writes every formula with an empty text as its cached result."""
    data = source.path.read_bytes()
    head = struct.pack("<HH", 0x0006, 0)[:2]  # a Formula record, then its size
    found = [
        at
        for at in range(len(data) - 10)
        if data[at : at + 2] == head and data[at + 4 : at + 8] == struct.pack("<HH", row, column)
    ]
    assert len(found) == 1
    result = found[0] + 4 + 6
    assert data[result] == 3
    assert data[result + 6 : result + 8] == b"\xff\xff"
    error = bytes([2, 0, code, 0, 0, 0, 0xFF, 0xFF])
    source.path.write_bytes(data[:result] + error + data[result + 8 :])
    return source


def xls_with_errors(tmp_path: Path) -> Source:
    def build(book: xlwt.Workbook) -> None:
        sheet = book.add_sheet("Contas €")  # not Latin-1: the name is stored in UTF-16
        sheet.write(0, 0, "a")
        sheet.write(0, 1, "ratio")
        sheet.write(0, 2, "calc")
        sheet.write(1, 0, 1)
        sheet.row(1).set_cell_error(1, "#DIV/0!")
        sheet.write(1, 2, xlwt.Formula("1/0"))
        sheet.write(2, 0, 2)
        sheet.row(2).set_cell_error(1, 0x2A)  # #N/A (xlwt knows codes better than texts)
        sheet.row(3).set_cell_error(2, 0x17)  # #REF!
        hidden = book.add_sheet("Oculta")
        hidden.write(0, 0, "h")
        hidden.row(1).set_cell_error(0, 0x24)  # #NUM!
        hidden.visibility = 1

    return with_cached_error(xls_source(tmp_path, "contas.xls", build), 1, 2, 0x0F)


def test_xls_error_cells_become_null_with_an_error(tmp_path: Path) -> None:
    source = xls_with_errors(tmp_path)
    # python-calamine reads them as empty cells: the errors come from the records.
    book = CalamineWorkbook.from_path(str(source.path))
    assert book.get_sheet_by_name("Contas €").to_python()[1] == [1.0, "", ""]

    found, rows = ingest([source])
    assert types(found) == {"a": "integer", "ratio": "empty", "calc": "empty"}
    assert [(row.source_sheet_name, row.source_row_index, row.data) for row in rows] == [
        ("Contas €", 2, {"a": 1, "ratio": None, "calc": None}),
        ("Contas €", 3, {"a": 2, "ratio": None, "calc": None}),
        ("Contas €", 4, {"a": None, "ratio": None, "calc": None}),
    ]
    assert [[(m.field, m.type, m.message) for m in row.validation_messages] for row in rows] == [
        [
            ("ratio", "cell_error", "Excel error #DIV/0! in cell B2"),
            ("calc", "cell_error", "Excel error #VALUE! in cell C2"),
        ],
        [("ratio", "cell_error", "Excel error #N/A in cell B3")],
        [("calc", "cell_error", "Excel error #REF! in cell C4")],
    ]
    assert {row.status for row in rows} == {RowStatus.ERROR}

    rows = read([source], sheet="Oculta")
    assert [(row.source_row_index, row.data, messages(row)) for row in rows] == [
        (2, {"h": None}, [("h", "cell_error")])
    ]


def test_xls_error_cells_in_profile_mode(tmp_path: Path) -> None:
    found, rows = ingest([xls_with_errors(tmp_path)], PROFILE)
    assert keys(found) == ["A1", "B1", "C1", "A2", "B2", "C2", "A3", "B3", "C4"]
    assert rows[0].data == {
        "A1": "a",
        "B1": "ratio",
        "C1": "calc",
        "A2": 1,
        "B2": None,
        "C2": None,
        "A3": 2,
        "B3": None,
        "C4": None,
    }
    assert [(m.field, m.message) for m in rows[0].validation_messages] == [
        ("B2", "Excel error #DIV/0! in cell B2"),
        ("C2", "Excel error #VALUE! in cell C2"),
        ("B3", "Excel error #N/A in cell B3"),
        ("C4", "Excel error #REF! in cell C4"),
    ]


def biff5_xls(tmp_path: Path) -> Source:
    """An Excel 95 (BIFF5) workbook, whose names and texts are in its codepage (cp1252):
    its records are written here, into the OLE2 container of an xlwt file (the stream keeps
    its size, padded by a record that readers skip)."""

    def label(row: int, column: int, text: str) -> bytes:
        data = text.encode("cp1252")
        return xls_record(0x0204, struct.pack("<HHHH", row, column, 0, len(data)) + data)

    def error(row: int, column: int, code: int) -> bytes:
        return xls_record(0x0205, struct.pack("<HHHBB", row, column, 0, code, 1))

    def formula_error(row: int, column: int, code: int) -> bytes:
        result = bytes([2, 0, code, 0, 0, 0, 0xFF, 0xFF])
        return xls_record(0x0006, struct.pack("<HHH", row, column, 0) + result + bytes(8))

    def bound_sheet(at: int, name: str, hidden: int) -> bytes:
        data = name.encode("cp1252")
        return xls_record(0x0085, struct.pack("<IBBB", at, hidden, 0, len(data)) + data)

    def substream(kind: int, records: bytes) -> bytes:
        bof = xls_record(0x0809, struct.pack("<HH", 0x0500, kind) + bytes(4))
        return bof + records + xls_record(0x000A)

    header = label(0, 0, "nome") + label(0, 1, "razão")
    rows = label(1, 0, "Zé") + error(1, 1, 0x07) + formula_error(2, 1, 0x2A)
    sheets = [("Pés", 0, header + rows), ("Oculta", 1, label(0, 0, "h") + error(1, 0, 0x24))]
    bodies = [substream(0x0010, records) for _, _, records in sheets]

    def workbook_globals(offsets: list[int]) -> bytes:
        codepage = xls_record(0x0042, struct.pack("<H", 1252))
        names = [(name, hidden) for name, hidden, _ in sheets]
        bound = [bound_sheet(at, *name) for at, name in zip(offsets, names, strict=True)]
        return substream(0x0005, codepage + b"".join(bound))

    at = len(workbook_globals([0] * len(sheets)))  # offsets are fixed-width
    offsets = [at + sum(len(body) for body in bodies[:n]) for n in range(len(bodies))]
    stream = workbook_globals(offsets) + b"".join(bodies)

    def build(book: xlwt.Workbook) -> None:
        sheet = book.add_sheet("x")
        for row in range(200):
            sheet.write(row, 0, "a stream long enough for the BIFF5 one")

    source = xls_source(tmp_path, "old95.xls", build)
    with olefile.OleFileIO(str(source.path), write_mode=True) as container:
        padding = container.get_size("Workbook") - len(stream) - 4
        container.write_stream("Workbook", stream + xls_record(0x0001, bytes(padding)))
    return source


def test_xls_error_cells_of_an_excel_95_workbook(tmp_path: Path) -> None:
    source = biff5_xls(tmp_path)
    book = CalamineWorkbook.from_path(str(source.path))
    assert book.get_sheet_by_name("Pés").to_python() == [["nome", "razão"], ["Zé", ""], ["", ""]]

    rows = read([source])
    assert [(row.source_sheet_name, row.source_row_index, row.data) for row in rows] == [
        ("Pés", 2, {"nome": "Zé", "razao": None}),
        ("Pés", 3, {"nome": None, "razao": None}),
    ]
    assert [[(m.field, m.message) for m in row.validation_messages] for row in rows] == [
        [("razao", "Excel error #DIV/0! in cell B2")],
        [("razao", "Excel error #N/A in cell B3")],
    ]
    rows = read([source], sheet="Oculta")
    assert [(row.source_row_index, messages(row)) for row in rows] == [(2, [("h", "cell_error")])]


def test_xlsb_workbook_with_its_error_cells(tmp_path: Path) -> None:
    source = xlsb_source(
        tmp_path,
        "binary.xlsb",
        [
            xlsb.Sheet("Oculta", [["h"], [1]], hidden=True),
            xlsb.Sheet(
                "Dados",
                [
                    ["nome", "pontos", "ok", "ratio"],
                    ["Ana", 7, True, xlsb.ErrorValue("#DIV/0!")],
                    [None, xlsb.BLANK, None, None],
                    ["Bia", 7.5, False, xlsb.FormulaError("#N/A")],
                    [None, None, None, None, xlsb.FormulaError("#REF!")],
                ],
                first_row=1,
            ),
        ],
    )
    # python-calamine reads an error constant as empty, and leaves a formula's error out.
    book = CalamineWorkbook.from_path(str(source.path))
    assert book.get_sheet_by_name("Dados").to_python()[-1] == ["Bia", 7.5, False, ""]

    found, rows = ingest([source])
    assert types(found) == {
        "nome": "string",
        "pontos": "number",
        "ok": "boolean",
        "ratio": "empty",
        "column_e": "empty",
    }
    assert [(row.source_sheet_name, row.source_row_index, row.data) for row in rows] == [
        ("Dados", 3, {"nome": "Ana", "pontos": 7, "ok": True, "ratio": None, "column_e": None}),
        ("Dados", 5, {"nome": "Bia", "pontos": 7.5, "ok": False, "ratio": None, "column_e": None}),
        ("Dados", 6, {"nome": None, "pontos": None, "ok": None, "ratio": None, "column_e": None}),
    ]
    assert [[(m.field, m.type, m.message) for m in row.validation_messages] for row in rows] == [
        [("ratio", "cell_error", "Excel error #DIV/0! in cell D3")],
        [("ratio", "cell_error", "Excel error #N/A in cell D5")],
        [("column_e", "cell_error", "Excel error #REF! in cell E6")],
    ]


def test_a_single_sheet_workbook_is_read_in_one_pass_and_loaded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = table_xlsx(tmp_path, "once.xlsx", [["a"], [1], [2]])
    loads: list[str] = []
    original = CalamineWorkbook.get_sheet_by_name

    def counting(self: CalamineWorkbook, name: str) -> CalamineSheet:
        loads.append(name)
        return original(self, name)

    monkeypatch.setattr(CalamineWorkbook, "get_sheet_by_name", counting)
    reading = Parser([source], LIST, None, Settings())
    assert [row.data for chunk in reading.chunks() for row in chunk] == [{"a": 1}, {"a": 2}]
    assert list(reading.amendments()) == []
    assert loads == ["Data"]


def test_a_column_of_dates_and_date_times_keeps_each_shape(tmp_path: Path) -> None:
    """calamine reads a midnight date-time as a date: a date-time column mixes both."""

    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Stamps")
        stamp = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
        sheet.write_row(0, 0, ["quando", "n"])
        moments = [dt.datetime(2024, 1, 1, 8, 30), dt.datetime(2024, 1, 2), None] * 3
        for row, moment in enumerate(moments, 1):
            if moment is not None:
                sheet.write_datetime(row, 0, moment, stamp)
            sheet.write_number(row, 1, row)

    found, rows = ingest([xlsx_source(tmp_path, "stamps.xlsx", build)])
    assert [row.data["quando"] for row in rows[:3]] == ["2024-01-01T08:30:00", "2024-01-02", None]
    assert types(found)["quando"] == "datetime"


def test_a_workbook_of_several_sheets_is_inspected_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        book.add_worksheet("One").write_column("A1", ["a", 1])
        book.add_worksheet("Two").write_column("A1", ["a", 2])

    source = xlsx_source(tmp_path, "two.xlsx", build)
    inspections: list[str] = []
    original = guards.inspect_archive

    def counting(*args: Any, **options: Any) -> guards.ErrorCells:
        inspections.append(args[1])
        return original(*args, **options)

    monkeypatch.setattr(guards, "inspect_archive", counting)
    reading = Parser([source], LIST, None, Settings())
    assert [row.data for chunk in reading.chunks() for row in chunk] == [{"a": 1}, {"a": 2}]
    assert inspections == ["two.xlsx"]


def test_xlsb_formula_errors_outside_the_cells_widen_the_sheet(tmp_path: Path) -> None:
    """calamine leaves an xlsb formula whose result is an error out of the sheet: one in
    column A, left of every value, and one below the last row still make their rows."""
    rows = [
        [None, "nome", "n"],
        [xlsb.FormulaError("#NAME?"), "Ana", 1],
        [None, "Bia", 2],
        [None, None, None],
        [xlsb.FormulaError("#NULL!")],
    ]
    source = xlsb_source(tmp_path, "edge.xlsb", [xlsb.Sheet("S", rows)])
    found, read_rows = ingest([source])
    assert keys(found) == ["column_a", "nome", "n"]
    assert [(row.source_row_index, row.data, messages(row)) for row in read_rows] == [
        (2, {"column_a": None, "nome": "Ana", "n": 1}, [("column_a", "cell_error")]),
        (3, {"column_a": None, "nome": "Bia", "n": 2}, []),
        (5, {"column_a": None, "nome": None, "n": None}, [("column_a", "cell_error")]),
    ]

    found, read_rows = ingest([source], PROFILE)
    assert keys(found) == ["B1", "C1", "A2", "B2", "C2", "B3", "C3", "A5"]
    assert [(m.field, m.message) for m in read_rows[0].validation_messages] == [
        ("A2", "Excel error #NAME? in cell A2"),
        ("A5", "Excel error #NULL! in cell A5"),
    ]
