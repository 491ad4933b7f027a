"""Row validation (spec §4.5): messages, their order, and the status they give a row."""

from __future__ import annotations

from pathlib import Path

import xlsxwriter

from service.entities import RowStatus
from service.ingest import validation
from tests.ingest.uploads import (
    csv_source,
    ingest,
    messages,
    read,
    table_xlsx,
    types,
    xlsx_source,
)


def test_type_mismatch_warns_on_values_that_do_not_fit_the_column(tmp_path: Path) -> None:
    text = "idade,nome\n" + "".join(f"{n},N{n}\n" for n in range(20)) + "vinte,N20\n"
    found, rows = ingest([csv_source(tmp_path, "ages.csv", text)])
    assert str(found.columns[0].inferred_type) == "integer"
    assert found.check_types == [True, False]
    assert all(row.status is RowStatus.VALID for row in rows[:20])
    last = rows[20]
    assert last.data == {"idade": "vinte", "nome": "N20"}
    assert last.status is RowStatus.WARNING
    assert [(m.field, m.type, m.message) for m in last.validation_messages] == [
        ("idade", "type_mismatch", "Expected an integer, the column's inferred type")
    ]


def test_empty_warns_only_in_columns_filled_in_95_percent_of_rows(tmp_path: Path) -> None:
    lines = ["a,b"] + [f"{n},{n}" for n in range(19)] + [",x"]
    lines += [f"{n}," for n in range(10)]  # b: 20 of 30 filled, a: 29 of 30
    found, rows = ingest([csv_source(tmp_path, "fill.csv", "\n".join(lines) + "\n")])
    assert found.warn_empty == [True, False]
    assert rows[19].data == {"a": None, "b": "x"}
    assert [(m.field, m.type, m.message) for m in rows[19].validation_messages] == [
        ("a", "empty", "Empty field"),
        ("b", "type_mismatch", "Expected an integer, the column's inferred type"),
    ]
    assert rows[19].status is RowStatus.WARNING
    assert all(row.status is RowStatus.VALID for index, row in enumerate(rows) if index != 19)


def test_messages_are_ordered_by_column_and_an_error_makes_the_row_an_error(
    tmp_path: Path,
) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("S")
        sheet.write_row(0, 0, ["n", "calc", "texto"])
        for row in range(1, 21):
            sheet.write_row(row, 0, [row, row * 2, f"t{row}"])
        sheet.write_row(21, 0, ["x"])
        sheet.write_formula(21, 1, "=1/0", None, "#DIV/0!")
        sheet.write_string(21, 2, "a\x00")

    rows = read([xlsx_source(tmp_path, "order.xlsx", build)])
    last = rows[-1]
    assert last.data == {"n": "x", "calc": None, "texto": "a"}
    assert messages(last) == [
        ("n", "type_mismatch"),
        ("calc", "cell_error"),
        ("texto", "sanitized"),
    ]
    assert last.status is RowStatus.ERROR


def test_mismatches_in_workbook_columns(tmp_path: Path) -> None:
    rows_in = [["qtd", "quando"]] + [[n, "2024-01-01"] for n in range(1, 21)]
    rows_in.append(["dois", "ontem"])
    found, rows = ingest([table_xlsx(tmp_path, "w.xlsx", rows_in)])
    assert [str(column.inferred_type) for column in found.columns] == ["integer", "date"]
    assert rows[-1].data == {"qtd": "dois", "quando": "ontem"}
    assert messages(rows[-1]) == [("qtd", "type_mismatch"), ("quando", "type_mismatch")]


def test_status_rules() -> None:
    warning = validation.empty("a")
    assert validation.status([], has_error=False) is RowStatus.VALID
    assert validation.status([warning], has_error=False) is RowStatus.WARNING
    assert validation.status([warning], has_error=True) is RowStatus.ERROR


def test_late_messages_over_many_chunks_match_a_two_pass_read(tmp_path: Path) -> None:
    """Rows sent before their column's type was known get their `type_mismatch` and `empty`
    messages afterwards, in the right order, across chunk boundaries (`ingest` also checks
    the whole result against a two-pass read)."""
    lines = ["id,amount,code,note"]
    for number in range(5000):
        amount = "n/a" if number in (100, 3000, 4999) else str(number)
        code = "" if number in (10, 2500) else f"C{number}"
        note = "x\x00" if number == 3000 else ("note" if number % 7 == 0 else "")
        lines.append(f"{number},{amount},{code},{note}")
    found, rows = ingest([csv_source(tmp_path, "late.csv", "\n".join(lines) + "\n")])
    assert types(found) == {
        "id": "integer",
        "amount": "integer",
        "code": "string",
        "note": "string",
    }
    flagged = {
        row.position: [(m.field, m.type) for m in row.validation_messages]
        for row in rows
        if row.validation_messages
    }
    assert flagged == {
        10: [("code", "empty")],
        100: [("amount", "type_mismatch")],
        2500: [("code", "empty")],
        3000: [("amount", "type_mismatch"), ("note", "sanitized")],
        4999: [("amount", "type_mismatch")],
    }
    assert {row.position for row in rows if row.status == "warning"} == set(flagged)
