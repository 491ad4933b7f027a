"""CSV/TSV/TXT ingestion (spec §4.1, §4.2): encodings, delimiters, quoting, ragged rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from service import errors
from service.entities import RowStatus
from service.ingest.delimited import TextDialect, sniff
from tests.ingest.uploads import csv_source, ingest, keys, messages, read, write_bytes


def test_values_stay_trimmed_strings_and_empty_becomes_null(tmp_path: Path) -> None:
    source = csv_source(tmp_path, "clientes.csv", "Nome,Código,Idade\n  Ana  ,00123, 42 \nBia,,7\n")
    found, rows = ingest([source])
    assert keys(found) == ["nome", "codigo", "idade"]
    assert [row.data for row in rows] == [
        {"nome": "Ana", "codigo": "00123", "idade": "42"},
        {"nome": "Bia", "codigo": None, "idade": "7"},
    ]
    assert [column.original_header for column in found.columns] == ["Nome", "Código", "Idade"]
    assert rows[0].source_file_name == "clientes.csv"
    assert rows[0].source_sheet_name == "clientes"
    assert [row.source_row_index for row in rows] == [2, 3]
    assert [row.position for row in rows] == [0, 1]


def test_record_numbers_count_blank_records_and_multiline_fields(tmp_path: Path) -> None:
    text = '\n\nid,note\n1,"two\nlines"\n\n,\n2,"say ""hi"""\n'
    found, rows = ingest([csv_source(tmp_path, "notes.csv", text)])
    assert found.row_count == 2
    assert [(row.source_row_index, row.data) for row in rows] == [
        (4, {"id": "1", "note": "two\nlines"}),
        (7, {"id": "2", "note": 'say "hi"'}),
    ]


def test_crlf_line_ends(tmp_path: Path) -> None:
    rows = read([csv_source(tmp_path, "w.csv", "a,b\r\n1,2\r\n3,4\r\n")])
    assert [row.data for row in rows] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


@pytest.mark.parametrize(
    ("delimiter", "name"),
    [(",", "a.csv"), (";", "a.csv"), ("\t", "a.tsv"), ("|", "a.txt"), ("\t", "a.csv")],
)
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str, name: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerows([["nome", "valor", "obs"], ["Ana", "1,5", "x; y"], ["Bia", "2,5", "z|t"]])
    found, rows = ingest([csv_source(tmp_path, name, buffer.getvalue())])
    assert keys(found) == ["nome", "valor", "obs"]
    assert rows[0].data == {"nome": "Ana", "valor": "1,5", "obs": "x; y"}


def test_single_column_file_defaults_to_comma(tmp_path: Path) -> None:
    source = csv_source(tmp_path, "one.csv", "email\na@b.co\n")
    assert sniff(source.path, source.name).delimiter == ","
    rows = read([source])
    assert rows[0].data == {"email": "a@b.co"}


@pytest.mark.parametrize(
    ("encoding", "content_encoding", "expected"),
    [
        ("utf-8", "utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16", "utf-16"),
        ("utf-16-be BOM", "utf-16", "utf-16"),
        ("cp1252", "cp1252", "cp1252"),
    ],
)
def test_encodings_bring_accents_back_exact(
    tmp_path: Path, encoding: str, content_encoding: str, expected: str
) -> None:
    text = "Nome;Cidade\nSão João, Ação;Conceição\n"
    content = text.encode(content_encoding)
    if encoding == "utf-16-be BOM":
        content = b"\xfe\xff" + text.encode("utf-16-be")
    source = write_bytes(tmp_path, "pt.csv", content)
    found, rows = ingest([source])
    assert found.files[0].dialect == TextDialect(encoding=expected, delimiter=";")
    assert rows[0].data == {"nome": "São João, Ação", "cidade": "Conceição"}


def test_short_portuguese_cp1252_is_not_misread_as_another_code_page(tmp_path: Path) -> None:
    source = write_bytes(tmp_path, "pt.csv", "São João, Ação".encode("cp1252"))
    assert sniff(source.path, source.name).encoding == "cp1252"


def test_cyrillic_text_is_left_to_charset_normalizer(tmp_path: Path) -> None:
    text = "Имя;Город\nИван;Москва\nПётр;Санкт-Петербург\nАнна;Новосибирск\n"  # noqa: RUF001
    found, rows = ingest([write_bytes(tmp_path, "ru.csv", text.encode("cp1251"))])
    assert found.files[0].dialect is not None
    assert found.files[0].dialect.encoding == "cp1251"
    assert rows[0].data == {"column_a": "Иван", "column_b": "Москва"}


def test_utf8_validity_is_checked_over_the_whole_file(tmp_path: Path) -> None:
    # 100 KB of ASCII (past the 64 KiB sniffing prefix), then cp1252 bytes.
    head = "id,nome\n" + "".join(f"{n},Nome {n}\n" for n in range(10_000))
    content = head.encode() + "10000,São João\n".encode("cp1252")
    found, rows = ingest([write_bytes(tmp_path, "late.csv", content)])
    assert found.files[0].dialect == TextDialect(encoding="cp1252", delimiter=",")
    assert rows[-1].data == {"id": "10000", "nome": "São João"}
    assert rows[-1].source_row_index == 10_002


def test_cp1252_undefined_bytes_do_not_fail_the_file(tmp_path: Path) -> None:
    rows = read([write_bytes(tmp_path, "odd.csv", b"a,b\nx\x81y,\xe9\n")])
    assert rows[0].data == {"a": "x\x81y", "b": "é"}


def test_short_records_are_padded_with_null(tmp_path: Path) -> None:
    rows = read([csv_source(tmp_path, "short.csv", "a,b,c\n1\n2,3\n")])
    assert [row.data for row in rows] == [
        {"a": "1", "b": None, "c": None},
        {"a": "2", "b": "3", "c": None},
    ]
    assert all(not row.validation_messages for row in rows)


def test_long_records_drop_extra_cells_with_a_warning(tmp_path: Path) -> None:
    text = "a,b\n1,2,x,,y\n3,4,,\n5,6\n"
    found, rows = ingest([csv_source(tmp_path, "long.csv", text)])
    assert keys(found) == ["a", "b"]
    assert rows[0].data == {"a": "1", "b": "2"}
    assert rows[0].status is RowStatus.WARNING
    (message,) = rows[0].validation_messages
    assert (message.field, message.type) == ("column_c", "extra_cells")
    assert message.message == "2 cells past the header's 2 columns dropped (the first in column C)"
    # Empty extra cells (trailing delimiters) are not data: no warning.
    assert rows[1].status is RowStatus.VALID
    assert rows[2].status is RowStatus.VALID


def test_nul_characters_are_removed_with_a_warning(tmp_path: Path) -> None:
    rows = read([csv_source(tmp_path, "nul.csv", "a,b\nx\x00y,1\n\x00,2\n")])
    assert rows[0].data == {"a": "xy", "b": "1"}
    assert rows[0].status is RowStatus.WARNING
    assert [(m.field, m.type, m.message) for m in rows[0].validation_messages] == [
        ("a", "sanitized", "NUL characters removed (PostgreSQL cannot store them)")
    ]
    assert rows[1].data == {"a": None, "b": "2"}
    assert messages(rows[1]) == [("a", "sanitized")]


def test_lone_surrogates_of_utf16_text_are_replaced(tmp_path: Path) -> None:
    content = "a,b\n".encode("utf-16-le") + b"x\x00" + b"\x00\xd8" + b",\x001\x00\n\x00"
    rows = read([write_bytes(tmp_path, "s.csv", b"\xff\xfe" + content)])
    assert rows[0].data == {"a": "x\ufffd", "b": "1"}
    assert [(m.type, m.message) for m in rows[0].validation_messages] == [
        ("sanitized", "Invalid characters (lone UTF-16 surrogates) replaced with U+FFFD")
    ]


def test_spacer_columns_are_columns_of_type_empty(tmp_path: Path) -> None:
    text = "a,,b,,\n1,,2,,\n3,,4,x,\n"
    found, rows = ingest([csv_source(tmp_path, "gaps.csv", text)])
    assert keys(found) == ["a", "column_b", "b", "column_d", "column_e"]
    assert [column.position for column in found.columns] == [0, 1, 2, 3, 4]
    assert [column.inferred_type for column in found.columns] == [
        "integer",
        "empty",
        "integer",
        "string",
        "empty",
    ]
    assert rows[1].data == {"a": "3", "column_b": None, "b": "4", "column_d": "x", "column_e": None}
    assert [row.validation_messages for row in rows] == [[], []]


def test_empty_file_and_blank_file_have_no_header(tmp_path: Path) -> None:
    with pytest.raises(errors.CorruptFile) as empty:
        ingest([write_bytes(tmp_path, "empty.csv", b"")])
    assert empty.value.file == "empty.csv"
    with pytest.raises(errors.CorruptFile, match="no header row") as blank:
        ingest([csv_source(tmp_path, "blank.csv", "\n , \n\n")])
    assert blank.value.file == "blank.csv"


def test_header_only_file_is_a_batch_without_rows(tmp_path: Path) -> None:
    found, rows = ingest([csv_source(tmp_path, "h.csv", "a,b\n")])
    assert rows == []
    assert found.row_count == 0
    assert [str(column.inferred_type) for column in found.columns] == ["empty", "empty"]


def test_more_chunks_than_one_keep_order_and_positions(tmp_path: Path) -> None:
    text = "n\n" + "".join(f"{n}\n" for n in range(5000))
    rows = read([csv_source(tmp_path, "many.csv", text)])
    assert [row.data["n"] for row in rows] == [str(n) for n in range(5000)]
    assert [row.position for row in rows] == list(range(5000))
    assert rows[-1].source_row_index == 5001
