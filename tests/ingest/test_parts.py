"""A big xlsx sheet cut into parts that calamine loads side by side (`parts`) reads exactly as
the whole sheet does; a sheet that cannot be cut is loaded whole; nothing is left behind."""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import xlsxwriter

from service import errors
from service.ingest import Parser, Source, parts, workbook
from service.settings import Settings
from tests.ingest.uploads import LIST, ingest, rezip, xlsx_source

PARTS = 3
SHEET = "xl/worksheets/sheet1.xml"


class Cutting:
    """Every list-mode xlsx sheet cut into `PARTS` parts; what happened to each cut."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, scratch: Path) -> None:
        self.parts_loaded: list[Path] = []
        self.cuts: list[bool] = []
        self.scratch = scratch
        load_part, load_cut = workbook.load_part, workbook.Workbook.load_cut

        def spy_part(sheet: str, path: Path) -> object:
            self.parts_loaded.append(path)
            return load_part(sheet, path)

        def spy_cut(
            book: workbook.Workbook, cutter: parts.Cutter, settings: Settings
        ) -> workbook.LoadedSheet | None:
            loaded = load_cut(book, cutter, settings)
            self.cuts.append(loaded is not None)
            return loaded

        monkeypatch.setattr(parts, "part_count", lambda size, shared_strings: PARTS)
        monkeypatch.setattr(workbook, "load_part", spy_part)
        monkeypatch.setattr(workbook.Workbook, "load_cut", spy_cut)
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def leftovers(self) -> list[Path]:
        return list(self.scratch.iterdir())


@pytest.fixture
def cutting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cutting]:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    threads = threading.active_count()
    yield Cutting(monkeypatch, scratch)
    assert threading.active_count() == threads


def varied(book: xlsxwriter.Workbook) -> None:
    """600 rows from column B, of every type, with blank rows, error cells, a formula and,
    near the end, a value past the header's last column (a `column_h` key)."""
    sheet = book.add_worksheet("Dados")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 1, ["Código", "Nome", "Valor", "Ativo", "Nascimento", "Atualizado"])
    row = 1
    for number in range(600):
        if number % 97 == 13:
            row += 2  # two blank rows
        sheet.write_number(row, 1, 1000 + number)
        sheet.write_string(row, 2, f"  Pessoa {number} de São Paulo " if number % 5 else "")
        sheet.write_number(row, 3, number / 7 if number % 11 else number)
        sheet.write_boolean(row, 4, number % 2 == 0)
        sheet.write_datetime(row, 5, dt.datetime(1990, 1, 1) + dt.timedelta(days=number), day)
        sheet.write_datetime(
            row, 6, dt.datetime(2026, 1, 1, 8) + dt.timedelta(minutes=7 * number), moment
        )
        if number == 250:
            sheet.write_formula(row, 3, "=1/0", None, "#DIV/0!")
        if number == 590:
            sheet.write_string(row, 7, "além")
        row += 1


def shared_strings(tmp_path: Path) -> Source:
    return xlsx_source(tmp_path, "dados.xlsx", varied)


def inline_strings(tmp_path: Path) -> Source:
    path = tmp_path / "inline.xlsx"
    with xlsxwriter.Workbook(str(path), {"constant_memory": True}) as book:
        varied(book)
    return Source(path, "dados.xlsx")


@pytest.mark.parametrize("build", [shared_strings, inline_strings])
def test_a_sheet_cut_into_parts_reads_as_the_whole_sheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build: object
) -> None:
    source = build(tmp_path)  # type: ignore[operator]
    whole = ingest([source])

    with monkeypatch.context() as patch:
        cutting = Cutting(patch, tmp_path / "scratch")
        cutting.scratch.mkdir()
        cut = ingest([source])
        assert (cutting.cuts, len(cutting.parts_loaded)) == ([True], PARTS)
        assert cutting.leftovers() == []

    assert cut == whole
    found, rows = cut
    assert [column.normalized_key for column in found.columns][-1] == "column_h"
    assert rows[0].source_row_index == 2
    assert rows[-1].source_row_index == 600 + 1 + 2 * 7
    assert [row.data["column_h"] for row in rows if row.data["column_h"]] == ["além"]
    assert [row.status for row in rows if row.data["codigo"] == 1250] == ["error"]


def sheet_xml(rows: list[bytes]) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<dimension ref="A1:B300"/><sheetData>' + b"".join(rows) + b"</sheetData></worksheet>"
    )


def row_xml(number: int, *, numbered: bool = True) -> bytes:
    reference = b' r="%d"' % number if numbered else b""
    return (
        b'<row%s><c r="A%d"><v>%d</v></c><c r="B%d" t="inlineStr"><is><t>n%d</t></is></c></row>'
        % (
            reference,
            number,
            number,
            number,
            number,
        )
    )


def handmade(tmp_path: Path, rows: list[bytes]) -> Source:
    """An xlsx whose one sheet is `rows` (A: the row number, B: text), after a header."""
    header = (
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>n</t></is></c>'
        b'<c r="B1" t="inlineStr"><is><t>t</t></is></c></row>'
    )
    base = xlsx_source(
        tmp_path, "feita.xlsx", lambda book: book.add_worksheet("S").write("A1", "x")
    )
    return rezip(base, "feita.xlsx", {SHEET: sheet_xml([header, *rows])})


@pytest.mark.parametrize(
    "rows",
    [
        # A comment could hide a row's end tag: not cut.
        [*map(row_xml, range(2, 150)), b"<!-- </row> -->", *map(row_xml, range(150, 300))],
        # A CDATA section, likewise.
        [
            *map(row_xml, range(2, 290)),
            b'<row r="290"><c r="A290" t="inlineStr"><is><t><![CDATA[</row>]]></t></is></c></row>',
        ],
        # Rows without their number: a part would not know where it starts.
        [row_xml(number, numbered=False) for number in range(2, 300)],
        # A row out of order, in the last part: it belongs before the first part's end.
        [*map(row_xml, range(3, 300)), row_xml(2)],
    ],
    ids=["comment", "cdata", "unnumbered rows", "rows out of order"],
)
def test_a_sheet_that_cannot_be_cut_is_loaded_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[bytes]
) -> None:
    source = handmade(tmp_path, rows)
    whole = ingest([source])

    with monkeypatch.context() as patch:
        cutting = Cutting(patch, tmp_path / "scratch")
        cutting.scratch.mkdir()
        cut = ingest([source])
        assert cutting.cuts in ([False], [])
        assert cutting.leftovers() == []

    assert cut == whole
    assert len(whole[1]) == sum(row.startswith(b"<row") for row in rows)


def test_a_refusal_of_the_pre_checks_while_cutting_leaves_nothing_behind(
    tmp_path: Path, cutting: Cutting
) -> None:
    rows = [*map(row_xml, range(2, 300)), b'<row r="300"><c r="Z300"><v>1</v></c></row>']
    source = handmade(tmp_path, rows)

    with pytest.raises(errors.LimitExceeded) as refused:
        Parser([source], LIST, None, Settings(max_columns=10)).chunks().__next__()

    assert (refused.value.limit, refused.value.column) == ("max_columns", "Z")
    assert cutting.leftovers() == []


def test_cuts_fall_after_a_row_and_every_part_is_a_workbook_of_its_own(tmp_path: Path) -> None:
    source = handmade(tmp_path, list(map(row_xml, range(2, 300))))
    member_size = zipfile.ZipFile(source.path).getinfo(SHEET).file_size
    written: list[bytes] = []

    def load(sheet: str, path: Path) -> list[list[object]]:
        with zipfile.ZipFile(path) as part:
            assert SHEET in part.namelist()
            assert "xl/workbook.xml" in part.namelist()
            written.append(part.read(SHEET))
        return workbook.load_part(sheet, path).to_python(skip_empty_area=False)

    cutter = parts.Cutter(source.path, SHEET, "S", 3, member_size, {SHEET}, load, tmp_path)
    with zipfile.ZipFile(source.path) as archive:
        data = archive.read(SHEET)
    for start in range(0, len(data), 1000):
        cutter.feed(data[start : start + 1000])
    cutter.finish()
    pieces = cutter.pieces()

    assert len(pieces) == len(written) == 3
    assert all(b"<dimension" not in part for part in written)
    assert all(part.endswith(b"</row></sheetData></worksheet>") for part in written)
    numbers = [row[0] for piece in pieces for row in piece if row[0] != ""]
    assert numbers == ["n", *map(float, range(2, 300))]
    assert not any(path.name.startswith("sheetflow-parts-") for path in tmp_path.iterdir())


@pytest.mark.parametrize(
    ("cpus", "size", "shared", "count"),
    [
        (2, parts.MIN_BYTES - 1, 0, 1),
        (1, 100 * parts.MIN_BYTES, 0, 1),
        (2, 2 * parts.MIN_BYTES, 0, 8),
        (8, 2 * parts.MIN_BYTES, 0, parts.MAX_PARTS),
        (2, 100_000_000, 10_000_000, 5),
        (2, 100_000_000, 25_000_000, 2),
        (2, 86_000_000, 25_000_000, 1),
    ],
)
def test_how_many_parts(
    monkeypatch: pytest.MonkeyPatch, cpus: int, size: int, shared: int, count: int
) -> None:
    monkeypatch.setattr(parts.os, "sched_getaffinity", lambda pid: set(range(cpus)))
    assert parts.part_count(size, shared) == count
