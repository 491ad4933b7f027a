"""Header → key normalization (spec §4.3) and A1 addresses."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.ingest.keys import (
    KeyAllocator,
    cell_address,
    column_index,
    column_letter,
    normalize_key,
)
from tests.ingest.uploads import csv_source, ingest, keys


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("  Nome Completo ", "nome_completo"),
        ("E-mail (pessoal)", "e_mail_pessoal"),
        ("Ação", "acao"),
        ("\uff23\uff30\uff26\u3000N\u00ba", "cpf_no"),  # full-width CPF, ideographic space, Nº
        ("__Já__foi__", "ja_foi"),
        ("2024 Total", "2024_total"),
        ("Straße", "stra_e"),
        ("!!!", ""),
        ("", ""),
    ],
)
def test_normalize_key(header: str, key: str) -> None:
    assert normalize_key(header) == key


def test_blank_headers_are_named_after_their_column_and_duplicates_numbered() -> None:
    allocator = KeyAllocator()
    headers = ["Nome", "nome", " NOME ", "", "Column C", "???", "Nome"]
    assert [allocator.allocate(header, column) for column, header in enumerate(headers)] == [
        "nome",
        "nome_2",
        "nome_3",
        "column_d",
        "column_c",
        "column_f",
        "nome_4",
    ]


@pytest.mark.parametrize(
    ("column", "letters"),
    [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA"), (16383, "XFD")],
)
def test_column_letters(column: int, letters: str) -> None:
    assert column_letter(column) == letters
    assert column_index(letters) == column


def test_cell_address() -> None:
    assert cell_address(2, 1) == "B2"


def test_keys_of_an_upload_keep_original_headers(tmp_path: Path) -> None:
    text = "  Nome Completo ,E-mail (pessoal),,Nome completo\nAna,a@b.co,x,Ana B\n"
    found, rows = ingest([csv_source(tmp_path, "k.csv", text)])
    assert keys(found) == ["nome_completo", "e_mail_pessoal", "column_c", "nome_completo_2"]
    assert [column.original_header for column in found.columns] == [
        "  Nome Completo ",
        "E-mail (pessoal)",
        "",
        "Nome completo",
    ]
    assert rows[0].data == {
        "nome_completo": "Ana",
        "e_mail_pessoal": "a@b.co",
        "column_c": "x",
        "nome_completo_2": "Ana B",
    }
