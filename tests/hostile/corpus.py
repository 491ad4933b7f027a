"""The hostile corpus: files that break spreadsheet parsers, each with the answer the spec
prescribes for it.

A case is either `Refused` (a 4xx problem whose detail names the file and says what is
wrong, nothing stored) or `Accepted` (201, with exactly these columns and rows) when the
spec makes the file ingestible: NUL characters are removed with a `sanitized` warning,
CSV values stay text (`1e309`, 40-digit integers), formulas give their cached value, and
duplicate or blank headers get `_2` and `column_<letter>` keys (spec §4.1, §4.3, §4.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import openpyxl
import xlsxwriter

from bench.xlsb import ErrorValue, FormulaError, Sheet, xlsb_bytes
from service.ingest.values import NOT_FINITE, NUL_REMOVED, SURROGATES_REPLACED
from tests.hostile.builders import (
    Build,
    ErrorCell,
    content,
    encrypted,
    glued,
    inline,
    lying_member,
    number,
    ods,
    ods_row,
    ods_table,
    openpyxl_book,
    raw,
    raw_ods,
    rearchived,
    row,
    sheet_rows,
    table,
    text,
    truncated,
    with_parts,
    worksheet_xml,
    xls,
    xlsx,
    zipped,
)
from tests.ingest.uploads import (
    ODS_MIMETYPE,
    billion_laughs,
    entity_bomb,
    lying_zip,
    ods_archive,
    ods_content,
)


@dataclass(frozen=True)
class Refused:
    status: int
    says: tuple[str, ...]
    """Phrases the problem's `detail` holds (besides the file name, always checked)."""
    where: dict[str, Any] = field(default_factory=dict)
    """Extension members of the problem: `sheet`, `row`, `column`, `limit`, `limitValue`."""


@dataclass(frozen=True)
class Row:
    index: int
    """`sourceRowIndex`: the real row number in the sheet (CSV: the record number)."""
    data: dict[str, Any]
    messages: tuple[tuple[str, str, str], ...] = ()
    """`(field, type, message)`; the row's status follows from them (spec §4.5)."""


@dataclass(frozen=True)
class Accepted:
    columns: tuple[tuple[str, str, str], ...]
    """`(normalizedKey, originalHeader, inferredType)` in column order."""
    rows: tuple[Row, ...]
    sheet: str = "Data"


@dataclass(frozen=True)
class Case:
    id: str
    name: str
    build: Build
    expect: Refused | Accepted
    mode: str = "list_mode"
    sheet: str | None = None
    limits: dict[str, int] = field(default_factory=dict)
    """Settings for this case only (small limits keep "over the limit" cases fast)."""
    before: tuple[tuple[str, Build], ...] = ()
    """Files uploaded ahead of this one in the same request (profile mode)."""
    bug: str | None = None
    """The known cause when the service does not answer as expected yet (a strict xfail)."""


def accepted(columns: str, *rows: Row, sheet: str = "Data", header: str | None = None) -> Accepted:
    """Columns given as `key:type` words, each header equal to its key unless `header` is
    given as `|`-separated headers."""
    pairs = [word.split(":") for word in columns.split()]
    headers = header.split("|") if header is not None else [key for key, _ in pairs]
    return Accepted(
        tuple(
            (key, original, type_) for (key, type_), original in zip(pairs, headers, strict=True)
        ),
        rows,
        sheet,
    )


def refused(status: int, *says: str, **where: Any) -> Refused:
    if "limit_value" in where:
        where["limitValue"] = where.pop("limit_value")
    return Refused(status, says, where)


def unprocessable(*says: str, **where: Any) -> Refused:
    return refused(422, *says, **where)


def too_many_rows(limit: int, sheet: str) -> Refused:
    row = limit + 2  # the header is row 1
    return unprocessable(
        f"has more than {limit:,} data rows (row {row} of sheet {sheet!r} is one too many)",
        sheet=sheet,
        row=row,
        limit="max_rows",
        limit_value=limit,
    )


def not_a(expected: str, found: str) -> Refused:
    return refused(415, f"is named .{expected} but its content is {found}")


NUL = ("sanitized", NUL_REMOVED)
FAR_CELL_REFUSED = unprocessable(
    "has a value in column XFD (column 16,384), past the limit of 1,000 columns",
    sheet="Far",
    row=1048576,
    column="XFD",
    limit="max_columns",
    limit_value=1000,
)
DIV0 = "Excel error #DIV/0! in cell %s"
DIV0_VALUE, DIV0_FORMULA = ErrorValue("#DIV/0!"), FormulaError("#DIV/0!")
XLSX = table([["a", "b"], [1, "x"]])
XLS = xls([["a", "b"], [1, "x"]])
ODS = ods([["a", "b"], [1, "x"]])
CSV = text("a,b\n1,x\n")
XLSB = zipped({"[Content_Types].xml": b"<Types/>", "xl/workbook.bin": b"\x00" * 64})
PLAIN = accepted("a:integer b:string", Row(2, {"a": 1, "b": "x"}))
CONTENT_OF = {
    "xlsx": "an Excel .xlsx/.xlsm workbook",
    "xls": "an OLE2 file (a legacy .xls workbook, or a password-protected workbook)",
    "ods": "an OpenDocument .ods spreadsheet",
    "csv": "plain text",
}
MISNAMED = {"xlsx": XLSX, "xls": XLS, "ods": ODS, "csv": CSV}


def far_cell(book: xlsxwriter.Workbook) -> None:
    book.add_worksheet("Far").write("XFD1048576", "far away")


def sixteen_thousand_columns(book: xlsxwriter.Workbook) -> None:
    book.add_worksheet("Wide").write_row(0, 0, [f"c{i}" for i in range(16_384)])


def last_row(book: xlsxwriter.Workbook) -> None:
    sheet = book.add_worksheet("Data")
    sheet.write("A1", "a")
    sheet.write("A1048576", "last")


def sparse(book: xlsxwriter.Workbook) -> None:
    sheet = book.add_worksheet("Data")
    sheet.write("A1", "a")
    sheet.write("ALL1048576", "far")


def cached_formulas(book: xlsxwriter.Workbook) -> None:
    sheet = book.add_worksheet("Data")
    sheet.write_row(0, 0, ["x", "double", "ratio", "label"])
    sheet.write_number(1, 0, 21)
    sheet.write_formula(1, 1, "=A2*2", None, 42)
    sheet.write_formula(1, 2, "=A2/0", None, "#DIV/0!")
    sheet.write_formula(1, 3, '="n"&A2', None, "n21")


def uncached_formulas(book: openpyxl.Workbook) -> None:
    sheet = book.active
    assert sheet is not None
    sheet.title = "Data"
    sheet.append(["x", "double"])
    sheet.append([21, "=A2*2"])


def serial_dates(book: xlsxwriter.Workbook) -> None:
    sheet = book.add_worksheet("Data")
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    sheet.write_row(0, 0, ["when", "serial", "leap", "huge"])
    sheet.write_number(1, 0, 45322, day)
    sheet.write_number(1, 1, 45322)
    sheet.write_number(1, 2, 60, day)  # Excel's 1900-02-29, a day that never was
    sheet.write_number(1, 3, 1e10, day)  # past any calendar: stays a number


def hidden_only(book: xlsxwriter.Workbook) -> None:
    shown = book.add_worksheet("Shown")
    hidden = book.add_worksheet("Hidden")
    hidden.write_row(0, 0, ["a"])
    hidden.write_row(1, 0, [1])
    hidden.activate()
    shown.hide()
    hidden.hide()


def unicode_sheet(book: xlsxwriter.Workbook) -> None:
    book.add_worksheet("Plan")
    sheet = book.add_worksheet("Ação 'x' 😀")
    sheet.write_row(0, 0, ["a"])
    sheet.write_row(1, 0, [1])


def shared_strings(count: int, declared: int) -> bytes:
    return (
        b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        b'2006/main" count="%d" uniqueCount="%d">'
        % (declared, declared)
        + b"".join(b"<si><t>s%d</t></si>" % n for n in range(count))
        + b"</sst>"
    )


NESTING = 100_000
LONG_LINE = "a" * 30_000

CASES: list[Case] = [
    # Archives: zip bombs, honest and lying, and other ZIP abuse.
    Case(
        "zip-bomb-honest-xlsx",
        "bomb.xlsx",
        with_parts(lambda: {"xl/media/zeros.bin": bytes(65 << 20)}),
        unprocessable("bytes of content in", "refused as a likely zip bomb"),
    ),
    Case(
        "zip-bomb-honest-ods",
        "bomb.ods",
        lambda tmp: ods_archive(
            ods_content(ods_table("Data", ods_row("a"))), {"Pictures/zeros.bin": bytes(65 << 20)}
        ),
        unprocessable("bytes of content in", "refused as a likely zip bomb"),
    ),
    Case(
        "zip-bomb-lying-member",
        "lie.xlsx",
        lying_member(
            with_parts(lambda: {"xl/media/zeros.bin": bytes(8 << 20)}), "xl/media/zeros.bin", 1000
        ),
        unprocessable(
            "member 'xl/media/zeros.bin' holds 1,048,576+ bytes, not the 1,000 it declares"
        ),
    ),
    Case(
        "zip-bomb-lying-sheet",
        "sheet-lie.xlsx",
        lying_member(XLSX, "xl/worksheets/sheet1.xml", 10),
        unprocessable("member 'xl/worksheets/sheet1.xml' holds", "not the 10 it declares"),
    ),
    Case(
        "zip-bomb-lying-archive",
        "lie.xlsx",
        raw(lying_zip(b"<row/>" * (3 << 20), declared=1000)),
        not_a("xlsx", "not a spreadsheet"),
    ),
    Case(
        "zip-many-members",
        "crowd.xlsx",
        with_parts(lambda: {f"xl/media/{n}.bin": b"" for n in range(10_001)}),
        unprocessable("holds 10,011 archive members; a spreadsheet has a few dozen"),
    ),
    Case("zip-encrypted", "locked.xlsx", encrypted(XLSX), unprocessable("is encrypted")),
    Case(
        "zip-of-a-workbook",
        "nested.xlsx",
        lambda tmp: zipped({"inner.xlsx": XLSX(tmp)})(tmp),
        not_a("xlsx", "not a spreadsheet"),
    ),
    # XML: entity bombs, external entities, depth, lies about counts.
    Case(
        "xml-entity-bomb-xlsx",
        "lol.xlsx",
        lambda tmp: content(entity_bomb(tmp)),
        unprocessable("declares XML entities in xl/sharedStrings.xml", "entity bomb"),
    ),
    Case(
        "xml-entity-bomb-ods",
        "lol.ods",
        lambda tmp: ods_archive(
            billion_laughs(ods_content(ods_table("Data", ods_row("a"), ods_row("&lol9;"))))
        ),
        unprocessable("declares XML entities in content.xml", "entity bomb"),
    ),
    Case(
        "xml-external-entity",
        "xxe.xlsx",
        with_parts(
            {
                "xl/worksheets/sheet1.xml": worksheet_xml(
                    row(1, inline("A1", "a"))
                    + row(2, b'<c r="A2" t="inlineStr"><is><t>&xxe;</t></is></c>'),
                    doctype=b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
                )
            }
        ),
        unprocessable("declares XML entities in xl/worksheets/sheet1.xml"),
    ),
    Case(
        "xml-deeply-nested-cell",
        "deep.xlsx",
        sheet_rows(
            row(1, inline("A1", "a")),
            row(
                2,
                b'<c r="A2" t="inlineStr"><is>'
                + b"<r>" * NESTING
                + b"<t>deep</t>"
                + b"</r>" * NESTING
                + b"</is></c>",
            ),
        ),
        accepted("a:string", Row(2, {"a": "deep"})),
    ),
    Case(
        "xml-deeply-nested-workbook",
        "deepbook.xlsx",
        rearchived(
            XLSX,
            edit=(
                "xl/workbook.xml",
                lambda xml: xml.replace(
                    b"</workbook>", b"<x>" * NESTING + b"</x>" * NESTING + b"</workbook>"
                ),
            ),
        ),
        PLAIN,
    ),
    Case(
        "xml-malformed-sheet",
        "broken.xlsx",
        with_parts({"xl/worksheets/sheet1.xml": worksheet_xml(b'<row r="1"><c r="A1"')}),
        unprocessable("Sheet 'Data' of 'broken.xlsx' cannot be read", sheet="Data"),
    ),
    Case(
        "xml-missing-sheet-part",
        "hollow.xlsx",
        rearchived(XLSX, drop="xl/worksheets/sheet1.xml"),
        unprocessable(
            "Sheet 'Data' of 'hollow.xlsx' cannot be read: the file lists it", sheet="Data"
        ),
    ),
    Case(
        "xml-huge-shared-strings",
        "strings.xlsx",
        with_parts(lambda: {"xl/sharedStrings.xml": shared_strings(300_000, 300_000)}),
        accepted("s0:string", Row(2, {"s0": "s1"}), header="s0"),
    ),
    Case(
        "xml-shared-strings-lying-count",
        "count.xlsx",
        with_parts({"xl/sharedStrings.xml": shared_strings(2, 4_294_967_295)}),
        unprocessable("declares 4,294,967,295 shared strings in a xl/sharedStrings.xml of"),
    ),
    Case(
        "xml-shared-string-index-out-of-range",
        "index.xlsx",
        sheet_rows(row(1, inline("A1", "a")), row(2, b'<c r="A2" t="s"><v>99999</v></c>')),
        unprocessable("Sheet 'Data' of 'index.xlsx' cannot be read", sheet="Data"),
    ),
    Case(
        "xml-text-in-a-number-cell",
        "nan.xlsx",
        sheet_rows(row(1, inline("A1", "a")), row(2, number("A2", b"abc"))),
        accepted("a:string", Row(2, {"a": "abc"})),
    ),
    Case(
        "xml-bad-iso-date-cell",
        "baddate.xlsx",
        sheet_rows(row(1, inline("A1", "a")), row(2, b'<c r="A2" t="d"><v>not-a-date</v></c>')),
        accepted("a:string", Row(2, {"a": "not-a-date"})),
    ),
    Case(
        "xml-surrogate-character-reference",
        "charref.xlsx",
        sheet_rows(
            row(1, inline("A1", "a")),
            row(2, b'<c r="A2" t="inlineStr"><is><t>x&#xD800;y</t></is></c>'),
        ),
        unprocessable("Sheet 'Data' of 'charref.xlsx' cannot be read", "not a valid codepoint"),
    ),
    Case(
        "xml-escaped-nul",
        "escaped.xlsx",
        sheet_rows(row(1, inline("A1", "a")), row(2, inline("A2", "x_x0000_y"))),
        accepted("a:string", Row(2, {"a": "xy"}, (("a", *NUL),))),
    ),
    Case(
        "xml-unknown-error-value",
        "error.xlsx",
        sheet_rows(row(1, inline("A1", "a")), row(2, b'<c r="A2" t="e"><v>#WEIRD</v></c>')),
        unprocessable("Sheet 'Data' of 'error.xlsx' cannot be read", "#WEIRD"),
    ),
    Case(
        "xml-row-number-past-2-to-the-32",
        "bigrow.xlsx",
        sheet_rows(row(1, inline("A1", "a")), row(4294967296, number("A4294967296", b"1"))),
        unprocessable("spans 4,294,967,296 rows x 1 columns", limit="worker_memory_bytes"),
    ),
    Case(
        "xml-rows-out-of-order",
        "order.xlsx",
        sheet_rows(
            row(1, inline("A1", "a")), row(3, inline("A3", "three")), row(2, inline("A2", "two"))
        ),
        accepted("a:string", Row(2, {"a": "two"}), Row(3, {"a": "three"})),
    ),
    Case(
        "xml-cells-without-references",
        "norefs.xlsx",
        sheet_rows(
            b'<row><c t="inlineStr"><is><t>a</t></is></c><c t="inlineStr"><is><t>b</t></is></c>'
            b"</row><row><c><v>1</v></c><c><v>2</v></c></row>"
        ),
        accepted("a:integer b:integer", Row(2, {"a": 1, "b": 2})),
    ),
    # The size of a sheet.
    Case(
        "far-cell",
        "far.xlsx",
        xlsx(far_cell),
        FAR_CELL_REFUSED,
    ),
    Case(
        "far-cell-xlsb",
        "far.xlsb",
        raw(xlsb_bytes([Sheet("Far", {0: ["a"], 1048575: [None] * 16383 + ["far away"]})])),
        FAR_CELL_REFUSED,
    ),
    Case(
        "far-cell-profile-mode",
        "far.xlsx",
        xlsx(far_cell),
        unprocessable("column XFD", sheet="Far", limit="max_columns", limit_value=1000),
        mode="profile_mode",
    ),
    Case(
        "far-cell-disguised-as-ods",
        "far.ods",
        rearchived(xlsx(far_cell), first={"mimetype": ODS_MIMETYPE}),
        not_a("ods", CONTENT_OF["xlsx"]),
    ),
    Case(
        "columns-16384",
        "wide.xlsx",
        xlsx(sixteen_thousand_columns),
        unprocessable(
            "has a value in column XFD (column 16,384)",
            sheet="Wide",
            row=1,
            column="XFD",
            limit="max_columns",
            limit_value=1000,
        ),
    ),
    Case(
        "columns-1001-csv",
        "cols.csv",
        text(",".join(f"c{n}" for n in range(1001)) + "\n"),
        unprocessable(
            "has 1,001 columns (up to column ALM); the limit is 1,000",
            sheet="cols",
            row=1,
            column="ALM",
            limit="max_columns",
            limit_value=1000,
        ),
    ),
    Case(
        "used-range-past-memory",
        "sparse.xlsx",
        xlsx(sparse),
        unprocessable(
            "spans 1,048,576 rows x 1,000 columns (up to cell ALL1048576)",
            sheet="Data",
            limit="worker_memory_bytes",
        ),
    ),
    Case(
        "million-empty-rows-xlsx",
        "tall.xlsx",
        xlsx(last_row),
        accepted("a:string", Row(1048576, {"a": "last"})),
    ),
    Case(
        "million-empty-rows-csv",
        "blank.csv",
        text("a\n" + "\n" * 1_000_000 + "last\n"),
        accepted("a:string", Row(1_000_002, {"a": "last"}), sheet="blank"),
    ),
    Case(
        "million-rows-over-the-limit-ods",
        "repeat.ods",
        raw_ods(ods_table("Data", ods_row("a"), ods_row("x", repeated=1_000_001))),
        too_many_rows(1000, "Data"),
        limits={"max_rows": 1000},
    ),
    Case(
        "rows-over-the-limit-csv",
        "rows.csv",
        text("n\n" + "".join(f"{n}\n" for n in range(101))),
        too_many_rows(100, "rows"),
        limits={"max_rows": 100},
    ),
    Case(
        "rows-over-the-limit-xlsx",
        "rows.xlsx",
        table([["n"]] + [[n] for n in range(101)]),
        too_many_rows(100, "Data"),
        limits={"max_rows": 100},
    ),
    Case(
        "ragged-record-100k-cells",
        "ragged.csv",
        text("a\n1" + "," * 100_000 + "x\n"),
        accepted(
            "a:integer",
            Row(
                2,
                {"a": "1"},
                (
                    (
                        "column_eqxe",
                        "extra_cells",
                        "1 cell past the header's 1 columns dropped (the first in column EQXE)",
                    ),
                ),
            ),
            sheet="ragged",
        ),
    ),
    # Text: NUL, surrogates, encodings, control bytes, long cells, quotes.
    Case(
        "nul-csv",
        "nul.csv",
        text("name,note\nA\x00na,ok\n\x00,x\x00\n"),
        accepted(
            "name:string note:string",
            Row(2, {"name": "Ana", "note": "ok"}, (("name", *NUL),)),
            Row(3, {"name": None, "note": "x"}, (("name", *NUL), ("note", *NUL))),
            sheet="nul",
        ),
    ),
    Case(
        "nul-only-rows-xlsx",
        "nulrows.xlsx",
        table([["\x00"], ["\x00", " \x00 "]]),
        unprocessable("has no data: every visible sheet is empty"),
    ),
    Case(
        "nul-only-row-among-rows-xlsx",
        "nulrow.xlsx",
        table([["a"], ["\x00"], ["b"]]),
        accepted("a:string", Row(3, {"a": "b"})),
    ),
    Case(
        "nul-only-rows-csv",
        "nulrows.csv",
        text("\x00\n\x00, \x00 \n"),
        unprocessable("has no header row: it is empty"),
    ),
    Case(
        "nul-only-row-among-rows-csv",
        "nulrow.csv",
        text("a\n\x00\nb\n"),
        accepted("a:string", Row(3, {"a": "b"}), sheet="nulrow"),
    ),
    Case(
        "blank-form-profile",
        "blankform.csv",
        text(" , \n\n\t\n"),
        unprocessable("no form has any data"),
        mode="profile_mode",
    ),
    Case(
        "nul-in-header-csv",
        "nulhead.csv",
        text("na\x00me\nAna\n"),
        accepted("name:string", Row(2, {"name": "Ana"}), sheet="nulhead"),
    ),
    Case(
        "nul-xlsx",
        "nul.xlsx",
        table([["name"], ["A\x00na"]]),
        accepted("name:string", Row(2, {"name": "Ana"}, (("name", *NUL),))),
    ),
    Case(
        "lone-surrogate-utf16",
        "surrogate.csv",
        lambda tmp: "name\nA\ud800na\n".encode("utf-16", "surrogatepass"),
        accepted(
            "name:string",
            Row(2, {"name": "A\ufffdna"}, (("name", "sanitized", SURROGATES_REPLACED),)),
            sheet="surrogate",
        ),
    ),
    Case(
        # Not UTF-8 (UTF-8 has no surrogates), so cp1252: the three bytes are "í", NBSP, "€".
        "lone-surrogate-utf8-bytes",
        "cesu.csv",
        raw(b"name\nA\xed\xa0\x80na\n"),
        accepted("name:string", Row(2, {"name": "Aí\xa0€na"}), sheet="cesu"),
    ),
    Case(
        "invalid-utf8-cp1252",
        "latin.csv",
        text("nome;cidade\nJoão;São Paulo\n", "cp1252"),
        accepted(
            "nome:string cidade:string",
            Row(2, {"nome": "João", "cidade": "São Paulo"}),
            sheet="latin",
        ),
    ),
    Case(
        "invalid-utf8-after-64k",
        "late.csv",
        lambda tmp: f"nome\n{LONG_LINE}\n{LONG_LINE}\n{LONG_LINE}\nConceição\n".encode("cp1252"),
        accepted(
            "nome:string",
            Row(2, {"nome": LONG_LINE}),
            Row(3, {"nome": LONG_LINE}),
            Row(4, {"nome": LONG_LINE}),
            Row(5, {"nome": "Conceição"}),
            sheet="late",
        ),
    ),
    Case(
        "invalid-utf8-cut-mid-character",
        "cut.csv",
        lambda tmp: "a\nSão".encode()[:-2],
        accepted("a:string", Row(2, {"a": "SÃ"}), sheet="cut"),
    ),
    Case(
        "utf16-without-bom",
        "utf16.csv",
        text("nome,idade\nAna,30\n", "utf-16-le"),
        not_a("csv", "not a spreadsheet"),
    ),
    Case(
        "utf16-with-bom",
        "utf16.csv",
        text("nome,idade\nAna,30\n", "utf-16"),
        accepted(
            "nome:string idade:integer", Row(2, {"nome": "Ana", "idade": "30"}), sheet="utf16"
        ),
    ),
    Case(
        "utf32-with-bom",
        "utf32.csv",
        text("nome,idade\nAna,30\n", "utf-32"),
        accepted(
            "nome:string idade:integer", Row(2, {"nome": "Ana", "idade": "30"}), sheet="utf32"
        ),
    ),
    Case(
        "control-bytes",
        "control.csv",
        text("a,b\n\x01x,\x1by\n"),
        accepted("a:string b:string", Row(2, {"a": "\x01x", "b": "\x1by"}), sheet="control"),
    ),
    Case(
        "cr-line-ends",
        "mac.csv",
        text("a,b\r1,2\r3,4\r"),
        accepted(
            "a:integer b:integer",
            Row(2, {"a": "1", "b": "2"}),
            Row(3, {"a": "3", "b": "4"}),
            sheet="mac",
        ),
    ),
    Case(
        "cell-32767-chars",
        "fits.csv",
        text("a\n" + "x" * 32_767 + "\n"),
        accepted("a:string", Row(2, {"a": "x" * 32_767}), sheet="fits"),
    ),
    Case(
        "cell-32768-chars-csv",
        "long.csv",
        text("a\n" + "x" * 32_768 + "\n"),
        unprocessable(
            "cell A2 has 32,768 characters; the limit is 32,767 characters per cell",
            sheet="long",
            row=2,
            column="A",
            limit="max_cell_chars",
            limit_value=32767,
        ),
    ),
    Case(
        "cell-40000-chars-xlsx",
        "long.xlsx",
        sheet_rows(row(1, inline("A1", "a")), row(2, inline("A2", "y" * 40_000))),
        unprocessable(
            "cell A2 has 40,000 characters",
            sheet="Data",
            row=2,
            column="A",
            limit="max_cell_chars",
            limit_value=32767,
        ),
    ),
    Case(
        "header-40000-chars-csv",
        "longhead.csv",
        text("h" * 40_000 + "\n1\n"),
        unprocessable("row 1 is too long", sheet="longhead", row=1, limit="max_cell_chars"),
    ),
    Case(
        "unclosed-quote",
        "quote.csv",
        text('a,b\n"open,1\n2,3\n'),
        accepted("a:string b:empty", Row(2, {"a": "open,1\n2,3", "b": None}), sheet="quote"),
    ),
    Case(
        "unclosed-quote-to-the-end",
        "endless.csv",
        text('a,b\n"' + "x" * 40_000 + "\n"),
        unprocessable("row 2 is too long", sheet="endless", row=2, limit="max_cell_chars"),
    ),
    # Numbers.
    Case(
        "1e309-csv",
        "big.csv",
        text("n\n1e309\n"),
        accepted("n:number", Row(2, {"n": "1e309"}), sheet="big"),
    ),
    Case(
        "1e309-xlsx",
        "big.xlsx",
        sheet_rows(row(1, inline("A1", "n")), row(2, number("A2", b"1e309"))),
        accepted("n:empty", Row(2, {"n": None}, (("n", "sanitized", NOT_FINITE),))),
    ),
    Case(
        "nan-number-xlsx",
        "nan.xlsx",
        sheet_rows(row(1, inline("A1", "n")), row(2, number("A2", b"NaN"))),
        accepted("n:empty", Row(2, {"n": None}, (("n", "sanitized", NOT_FINITE),))),
    ),
    Case(
        "40-digit-integer-csv",
        "digits.csv",
        text("n\n" + "1234567890" * 4 + "\n"),
        accepted("n:number", Row(2, {"n": "1234567890" * 4}), sheet="digits"),
    ),
    Case(
        # A double: its shortest form 1.2345678901234568e39, which jsonb writes out in full.
        "40-digit-integer-xlsx",
        "digits.xlsx",
        sheet_rows(row(1, inline("A1", "n")), row(2, number("A2", b"1234567890" * 4))),
        accepted("n:number", Row(2, {"n": 12345678901234568 * 10**23})),
    ),
    Case(
        "minus-zero-csv",
        "zero.csv",
        text("n\n-0\n"),
        accepted("n:integer", Row(2, {"n": "-0"}), sheet="zero"),
    ),
    Case(
        "minus-zero-xlsx",
        "zero.xlsx",
        sheet_rows(row(1, inline("A1", "n")), row(2, number("A2", b"-0"))),
        accepted("n:integer", Row(2, {"n": 0})),
    ),
    Case(
        "nan-inf-text-csv",
        "nan.csv",
        text("n\nNaN\ninf\n-Infinity\n"),
        accepted(
            "n:string",
            Row(2, {"n": "NaN"}),
            Row(3, {"n": "inf"}),
            Row(4, {"n": "-Infinity"}),
            sheet="nan",
        ),
    ),
    Case(
        "nan-inf-text-xlsx",
        "nan.xlsx",
        table([["n"], ["NaN"], ["inf"], ["-Infinity"]]),
        accepted(
            "n:string", Row(2, {"n": "NaN"}), Row(3, {"n": "inf"}), Row(4, {"n": "-Infinity"})
        ),
    ),
    Case(
        "formulas-with-cached-values",
        "formulas.xlsx",
        xlsx(cached_formulas),
        accepted(
            "x:integer double:integer ratio:empty label:string",
            Row(
                2,
                {"x": 21, "double": 42, "ratio": None, "label": "n21"},
                (("ratio", "cell_error", "Excel error #DIV/0! in cell C2"),),
            ),
        ),
    ),
    Case(
        "error-cells-xls",
        "errors.xls",
        xls([["x", "ratio"], [21, ErrorCell(0x07)]]),
        accepted(
            "x:integer ratio:empty",
            Row(2, {"x": 21, "ratio": None}, (("ratio", "cell_error", DIV0 % "B2"),)),
        ),
    ),
    Case(
        "error-cells-xlsb",
        "errors.xlsb",
        raw(xlsb_bytes([Sheet("Data", [["x", "ratio"], [21, DIV0_VALUE], [22, DIV0_FORMULA]])])),
        accepted(
            "x:integer ratio:empty",
            Row(2, {"x": 21, "ratio": None}, (("ratio", "cell_error", DIV0 % "B2"),)),
            Row(3, {"x": 22, "ratio": None}, (("ratio", "cell_error", DIV0 % "B3"),)),
        ),
    ),
    Case(
        "formulas-without-cached-values",
        "uncached.xlsx",
        openpyxl_book(uncached_formulas),
        accepted("x:integer double:empty", Row(2, {"x": 21, "double": None})),
    ),
    Case(
        "serial-dates",
        "dates.xlsx",
        xlsx(serial_dates),
        accepted(
            "when:date serial:integer leap:date huge:integer",
            Row(
                2,
                {"when": "2024-01-31", "serial": 45322, "leap": "1900-02-28", "huge": 10**10},
            ),
        ),
    ),
    # Headers.
    Case(
        "duplicate-headers",
        "dup.csv",
        text("a,A,a ,á\n1,2,3,4\n"),
        accepted(
            "a:integer a_2:integer a_3:integer a_4:integer",
            Row(2, {"a": "1", "a_2": "2", "a_3": "3", "a_4": "4"}),
            sheet="dup",
            header="a|A|a |á",
        ),
    ),
    Case(
        "empty-headers",
        "blankhead.csv",
        text(",x,,column_a,!!!\n1,2,3,4,5\n"),
        accepted(
            "column_a:integer x:integer column_c:integer column_a_2:integer column_e:integer",
            Row(
                2, {"column_a": "1", "x": "2", "column_c": "3", "column_a_2": "4", "column_e": "5"}
            ),
            sheet="blankhead",
            header="|x||column_a|!!!",
        ),
    ),
    Case(
        "header-only-csv",
        "header.csv",
        text("a,b\n"),
        accepted("a:empty b:empty", sheet="header"),
    ),
    Case("header-only-xlsx", "header.xlsx", table([["a", "b"]]), accepted("a:empty b:empty")),
    Case(
        "only-blank-rows-csv",
        "blank.csv",
        text(",,\n  \n\n , \n"),
        unprocessable("has no header row: it is empty"),
    ),
    Case(
        "only-blank-rows-xlsx",
        "blank.xlsx",
        table([["  "], [None], [" "]]),
        unprocessable("has no data: every visible sheet is empty"),
    ),
    Case(
        "bom-only", "bom.csv", raw(b"\xef\xbb\xbf"), unprocessable("has no header row: it is empty")
    ),
    *(
        Case(f"empty-{ext}", f"empty.{ext}", raw(b""), unprocessable("is empty"))
        for ext in ("csv", "xlsx", "ods")
    ),
    # Sheets.
    Case(
        "sheet-that-does-not-exist",
        "sheets.xlsx",
        XLSX,
        unprocessable("has no worksheet named 'Nope' (it has: 'Data')", sheet="Nope"),
        sheet="Nope",
    ),
    Case(
        "sheet-that-does-not-exist-profile-mode",
        "form.xlsx",
        XLSX,
        unprocessable("has no worksheet named 'Nope'", sheet="Nope"),
        mode="profile_mode",
        sheet="Nope",
    ),
    Case(
        "hidden-sheets-only",
        "hidden.xlsx",
        xlsx(hidden_only),
        unprocessable("has no visible worksheet"),
    ),
    Case(
        "hidden-sheet-named",
        "hidden.xlsx",
        xlsx(hidden_only),
        accepted("a:integer", Row(2, {"a": 1}), sheet="Hidden"),
        sheet="Hidden",
    ),
    Case(
        "unicode-sheet-named",
        "sheetname.xlsx",
        xlsx(unicode_sheet),
        accepted("a:integer", Row(2, {"a": 1}), sheet="Ação 'x' 😀"),
        sheet="Ação 'x' 😀",
    ),
    Case(
        "sheet-named-for-a-csv",
        "plain.csv",
        CSV,
        accepted("a:integer b:string", Row(2, {"a": "1", "b": "x"}), sheet="plain"),
        sheet="Nope",
    ),
    # Truncated files of every format.
    Case(
        "truncated-xlsx",
        "cut.xlsx",
        truncated(XLSX, 0.5),
        unprocessable("is a damaged ZIP archive"),
    ),
    Case("truncated-xls", "cut.xls", truncated(XLS, 0.5), unprocessable("cannot be read")),
    Case(
        "truncated-ods", "cut.ods", truncated(ODS, 0.5), unprocessable("is a damaged ZIP archive")
    ),
    Case(
        "truncated-xlsb",
        "cut.xlsb",
        truncated(XLSB, 0.5),
        unprocessable("is a damaged ZIP archive"),
    ),
    Case(
        "truncated-csv-mid-quote",
        "cutquote.csv",
        text('a,b\n1,"unfinished'),
        accepted("a:integer b:string", Row(2, {"a": "1", "b": "unfinished"}), sheet="cutquote"),
    ),
    # Content and extension disagree, in every direction.
    *(
        Case(f"{fmt}-named-{ext}", f"file.{ext}", build, not_a(ext, CONTENT_OF[fmt]))
        for fmt, build in MISNAMED.items()
        for ext in ("xlsx", "xls", "ods", "csv")
        if fmt != ext
    ),
    Case("xlsx-named-xlsb", "file.xlsb", XLSX, not_a("xlsb", CONTENT_OF["xlsx"])),
    Case("unknown-extension", "data.pdf", CSV, refused(415, "is not a supported file type")),
    Case("double-extension", "data.csv.exe", CSV, refused(415, "is not a supported file type")),
    Case("upper-case-extension", "DATA.XLSX", XLSX, PLAIN),
    Case("xlsx-named-xlsm", "macro.xlsm", XLSX, PLAIN),
    Case(
        "csv-named-tsv",
        "data.tsv",
        CSV,
        accepted("a:integer b:string", Row(2, {"a": "1", "b": "x"}), sheet="data"),
    ),
    Case(
        "path-in-the-file-name",
        "../../etc/passwd.csv",
        CSV,
        accepted("a:integer b:string", Row(2, {"a": "1", "b": "x"}), sheet="passwd"),
    ),
    # Polyglots: files that are two formats at once.
    Case(
        "csv-with-a-zip-appended",
        "poly.csv",
        glued(text("a,b\n" + "1,2\n" * 20_000), XLSX),
        not_a("csv", "not a spreadsheet"),
    ),
    Case(
        "zip-of-a-csv-named-csv",
        "zipped.csv",
        zipped({"zipped.csv": b"a,b\n1,2\n"}),
        not_a("csv", "not a spreadsheet"),
    ),
    Case("xlsx-with-text-appended", "poly.xlsx", glued(XLSX, text("a,b\n1,2\n")), PLAIN),
    Case(
        "xlsx-with-text-appended-named-csv",
        "poly.csv",
        glued(XLSX, text("a,b\n1,2\n")),
        not_a("csv", CONTENT_OF["xlsx"]),
    ),
    Case(
        "xlsx-with-an-ods-mimetype",
        "mixed.xlsx",
        rearchived(XLSX, first={"mimetype": ODS_MIMETYPE}),
        PLAIN,
    ),
    Case(
        "xlsx-with-an-ods-mimetype-named-ods",
        "mixed.ods",
        rearchived(XLSX, first={"mimetype": ODS_MIMETYPE}),
        not_a("ods", CONTENT_OF["xlsx"]),
    ),
    Case(
        "ole2-header-and-garbage",
        "fake.xls",
        raw(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8),
        unprocessable("cannot be read"),
    ),
    Case("xlsb-garbage", "fake.xlsb", XLSB, unprocessable("cannot be read")),
    Case(
        "html-named-xls",
        "export.xls",
        text("<html><body><table><tr><td>a</td></tr></table></body></html>"),
        not_a("xls", "plain text"),
    ),
    Case(
        "png-named-xlsx",
        "photo.xlsx",
        raw(b"\x89PNG\r\n\x1a\n" + bytes(64)),
        not_a("xlsx", "not a spreadsheet"),
    ),
    Case(
        "gzip-named-csv",
        "data.csv",
        raw(b"\x1f\x8b\x08\x00" + bytes(range(256))),
        not_a("csv", "not a spreadsheet"),
    ),
    # Several files: one hostile file refuses the whole upload.
    Case(
        "profile-mode-one-bomb-among-forms",
        "lol.xlsx",
        lambda tmp: content(entity_bomb(tmp)),
        unprocessable("entity bomb"),
        mode="profile_mode",
        before=(("a.xlsx", XLSX), ("b.csv", CSV)),
    ),
]
