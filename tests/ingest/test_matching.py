"""Matching columns to schema fields (issue 18, item 2): the header-variant table that sets
`FUZZY_THRESHOLD`, and the order of precedence (explicit, saved, key, alias, fuzzy).

The table holds real headers seen in Brazilian and English spreadsheets (accents, punctuation,
abbreviations, typos, plurals, look-alikes) against a 12-field customer/order schema whose
labels and aliases are what a user would write. Each row names the field a person would pick,
or `None` when the column is something else. The threshold is justified by two facts the tests
below check: every wrong field scores below it (the closest, `Cidade de nascimento` against
`data_nascimento`, scores 0.81), and every fuzzy match the table accepts scores at or above it
(the lowest, `Nº Documento` against `documento`, 0.86). `MISSED` lists the headers a person
would map but matching leaves unmapped: a miss costs one click in the preview, a false match a
wrong column of data, so the threshold errs on the side of misses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from service import errors
from service.entities import BatchMode
from service.ingest import Parser, Source
from service.ingest.keys import normalize_key
from service.ingest.matching import (
    FUZZY_THRESHOLD,
    ColumnMatch,
    Matching,
    header_fingerprint,
    match_columns,
    remembered,
)
from service.schemas import SchemaField
from service.settings import Settings
from tests.ingest.uploads import csv_source, xlsx_source

FIELDS = [
    SchemaField(
        key="nome", label="Nome completo", aliases=["name", "full name", "nome do cliente"]
    ),
    SchemaField(key="cpf", label="CPF", aliases=["cpf/cnpj", "documento", "document"]),
    SchemaField(key="email", label="E-mail", aliases=["email address", "correio eletrônico"]),
    SchemaField(key="telefone", label="Telefone", aliases=["phone", "celular", "fone"]),
    SchemaField(
        key="data_nascimento",
        label="Data de nascimento",
        aliases=["birth date", "date of birth", "dt nasc", "nascimento"],
    ),
    SchemaField(key="endereco", label="Endereço", aliases=["address", "logradouro"]),
    SchemaField(key="cidade", label="Cidade", aliases=["city", "município"]),
    SchemaField(key="uf", label="UF", aliases=["estado", "state"]),
    SchemaField(key="cep", label="CEP", aliases=["zip", "zip code", "postal code"]),
    SchemaField(
        key="valor_total", label="Valor total", aliases=["total", "amount", "total amount"]
    ),
    SchemaField(key="data_pedido", label="Data do pedido", aliases=["order date"]),
    SchemaField(key="quantidade", label="Quantidade", aliases=["qty", "qtd", "quantity"]),
]

VARIANTS: list[tuple[str, str | None]] = [
    ("Nome", "nome"),
    ("NOME COMPLETO", "nome"),
    ("Nome do Cliente", "nome"),
    ("Name", "nome"),
    ("Full Name", "nome"),
    ("Nome:", "nome"),
    ("CPF", "cpf"),
    ("cpf/cnpj", "cpf"),
    ("CPF / CNPJ", "cpf"),
    ("Documento", "cpf"),
    ("Nº Documento", "cpf"),
    ("Num. CPF", "cpf"),
    ("E-mail", "email"),
    ("Email", "email"),
    ("EMAIL ", "email"),
    ("e-mail:", "email"),
    ("Email Address", "email"),
    ("Correio eletrônico", "email"),
    ("Emial", "email"),
    ("Telefone", "telefone"),
    ("Tel.", "telefone"),
    ("Celular", "telefone"),
    ("Fone", "telefone"),
    ("Phone Number", "telefone"),
    ("Telefone 2", "telefone"),
    ("Data de Nascimento", "data_nascimento"),
    ("Data Nascimento", "data_nascimento"),
    ("Dt. Nasc.", "data_nascimento"),
    ("Data de nasc.", "data_nascimento"),
    ("Nascimento", "data_nascimento"),
    ("Date of Birth", "data_nascimento"),
    ("Birthdate", "data_nascimento"),
    ("Endereço", "endereco"),
    ("Endereco", "endereco"),
    ("Endereço completo", "endereco"),
    ("Address", "endereco"),
    ("Adress", "endereco"),
    ("Logradouro", "endereco"),
    ("Cidade", "cidade"),
    ("Município", "cidade"),
    ("City", "cidade"),
    ("Cidades", "cidade"),
    ("UF", "uf"),
    ("Estado", "uf"),
    ("State", "uf"),
    ("CEP", "cep"),
    ("CEP:", "cep"),
    ("Zip Code", "cep"),
    ("ZIP", "cep"),
    ("Código Postal", "cep"),
    ("Postal code", "cep"),
    ("Valor Total", "valor_total"),
    ("Valor total (R$)", "valor_total"),
    ("Vlr. Total", "valor_total"),
    ("Total", "valor_total"),
    ("Amount", "valor_total"),
    ("Data do Pedido", "data_pedido"),
    ("Data Pedido", "data_pedido"),
    ("Dt Pedido", "data_pedido"),
    ("Order Date", "data_pedido"),
    ("Quantidade", "quantidade"),
    ("Qtd", "quantidade"),
    ("Qtde", "quantidade"),
    ("Qty.", "quantidade"),
    ("Quantity", "quantidade"),
    ("Qtd.", "quantidade"),
    ("Observações", None),
    ("Obs", None),
    ("ID", None),
    ("Código", None),
    ("Código do cliente", None),
    ("Status", None),
    ("Data de cadastro", None),
    ("Data de entrega", None),
    ("Nome da mãe", None),
    ("Nome fantasia", None),
    ("Razão social", None),
    ("Sexo", None),
    ("Gênero", None),
    ("Profissão", None),
    ("Renda", None),
    ("Cidade de nascimento", None),
    ("Estado civil", None),
    ("CPF do responsável", None),
    ("E-mail secundário", None),
    ("Valor unitário", None),
    ("Data", None),
    ("Cliente", None),
    ("Descrição", None),
    ("Produto", None),
    ("SKU", None),
    ("Preço", None),
    ("Desconto", None),
    ("Endereço de entrega", None),
    ("Telefone comercial", "telefone"),
    ("Data de vencimento", None),
    ("Nome do pai", None),
    ("Complemento", None),
    ("Bairro", None),
    ("Número", None),
    ("Celular 2", "telefone"),
    ("Valor do frete", None),
    ("Date", None),
    ("Order ID", None),
    ("Customer Name", "nome"),
    ("Phone", "telefone"),
    ("Birth Date", "data_nascimento"),
    ("Zipcode", "cep"),
    ("Emails", "email"),
    ("Quantidades", "quantidade"),
    ("Cep Entrega", None),
    ("Data da compra", None),
    ("Data de emissão", None),
    ("Nome social", None),
    ("Nome do produto", None),
    ("Total geral", "valor_total"),
    ("Valor pago", None),
    ("E-mail do responsável", None),
    ("Telefone fixo", "telefone"),
    ("Dt. Venc.", None),
    ("Pedido", None),
]
"""(header, the field a person would map it to, or None)."""

MISSED = {
    "Num. CPF",
    "Emial",
    "Tel.",
    "Phone Number",
    "Endereço completo",
    "Código Postal",
    "Qtde",
    "Telefone comercial",
    "Telefone fixo",
    "Customer Name",
    "Total geral",
}
"""Headers a person would map that matching leaves unmapped (below the threshold or too short
to compare): listed so that a change in either direction shows up here."""


def one(header: str) -> ColumnMatch:
    return match_columns([(header, normalize_key(header))], FIELDS)[0]


def test_the_table_is_large_and_has_both_answers() -> None:
    assert len(VARIANTS) >= 60
    assert len({header for header, _ in VARIANTS}) == len(VARIANTS)
    assert sum(wanted is None for _, wanted in VARIANTS) >= 30
    assert {header for header, wanted in VARIANTS if wanted is not None} >= MISSED


@pytest.mark.parametrize(("header", "wanted"), VARIANTS)
def test_each_header_variant_maps_to_its_field_or_to_nothing(
    header: str, wanted: str | None
) -> None:
    match = one(header)
    assert match.target_field == (None if header in MISSED else wanted)
    if match.target_field is None:
        assert (match.matched_by, match.confidence) == (None, None)


def test_no_wrong_field_scores_at_or_above_the_threshold() -> None:
    wrong: list[tuple[float, str, str]] = []
    right: list[float] = []
    for header, wanted in VARIANTS:
        match = one(header)
        if match.matched_by == "fuzzy":
            right.append(match.confidence or 0.0)
        wrong.extend(
            (other.confidence, header, other.field)
            for other in match.alternatives
            if other.field != wanted
        )
    assert max(wrong) < (FUZZY_THRESHOLD, "", "")
    assert max(wrong)[0] > 0.75, "the table should hold look-alikes close to the threshold"
    assert min(right) >= FUZZY_THRESHOLD
    assert len(right) >= 10


def test_fuzzy_matches_say_so_with_their_similarity() -> None:
    match = one("Vlr. Total")
    assert (match.target_field, match.matched_by) == ("valor_total", "fuzzy")
    assert match.confidence is not None
    assert FUZZY_THRESHOLD <= match.confidence < 1
    assert (one("Valor Total").matched_by, one("Total").matched_by) == ("key", "alias")


def test_a_close_but_wrong_field_is_only_an_alternative() -> None:
    match = one("Data de vencimento")
    assert match.target_field is None
    assert match.alternatives[0].field == "data_nascimento"
    assert match.alternatives[0].matched_by == "fuzzy"
    assert match.alternatives[0].confidence < FUZZY_THRESHOLD


COLUMNS = [(header, normalize_key(header)) for header in ["Nome", "CPF", "Celular", "Obs"]]


def targets(matches: list[ColumnMatch]) -> list[tuple[str | None, str | None]]:
    return [(match.target_field, match.matched_by) for match in matches]


def test_explicit_mapping_overrides_everything_by_header_or_by_key() -> None:
    matches = match_columns(
        COLUMNS, FIELDS, explicit={"Celular": None, "obs": "telefone", "Nome": "nome"}
    )
    assert targets(matches) == [
        ("nome", "explicit"),
        ("cpf", "key"),
        (None, "explicit"),
        ("telefone", "explicit"),
    ]
    assert matches[2].alternatives[0].field == "telefone"


def test_explicit_mapping_to_an_unknown_field_is_refused() -> None:
    with pytest.raises(errors.IngestError, match="'idade'"):
        match_columns(COLUMNS, FIELDS, explicit={"Obs": "idade"})


def test_two_columns_explicitly_mapped_to_one_field_are_refused_naming_both() -> None:
    with pytest.raises(errors.IngestError, match="'Celular' and 'Obs'"):
        match_columns(COLUMNS, FIELDS, explicit={"Celular": "telefone", "Obs": "telefone"})


def test_explicit_entries_for_columns_not_in_the_file_are_ignored() -> None:
    matches = match_columns(COLUMNS, FIELDS, explicit={"Idade": "nome"})
    assert targets(matches)[0] == ("nome", "key")


def test_an_explicit_column_takes_its_field_from_an_automatic_match() -> None:
    matches = match_columns(COLUMNS, FIELDS, explicit={"Obs": "cpf"})
    assert targets(matches) == [
        ("nome", "key"),
        (None, None),
        ("telefone", "alias"),
        ("cpf", "explicit"),
    ]
    assert matches[1].alternatives[0].field == "cpf"


def test_saved_mapping_comes_after_explicit_and_before_automatic_matches() -> None:
    saved: dict[str, str | None] = {"obs": "email", "cpf": None, "celular": "removed_field"}
    matches = match_columns(COLUMNS, FIELDS, explicit={"Obs": "uf"}, saved=saved)
    assert targets(matches) == [
        ("nome", "key"),
        (None, "saved"),
        ("telefone", "alias"),
        ("uf", "explicit"),
    ]


def test_a_key_match_beats_an_alias_match_for_the_same_field() -> None:
    columns = [(header, normalize_key(header)) for header in ["Celular", "Telefone"]]
    assert targets(match_columns(columns, FIELDS)) == [(None, None), ("telefone", "key")]


def test_of_two_alias_matches_the_first_column_wins() -> None:
    columns = [(header, normalize_key(header)) for header in ["Fone", "Celular"]]
    assert targets(match_columns(columns, FIELDS)) == [("telefone", "alias"), (None, None)]


def test_remembered_keeps_decisions_and_matches_not_columns_nothing_matched() -> None:
    matches = match_columns(COLUMNS, FIELDS, explicit={"Celular": None})
    assert remembered(matches) == {"nome": "nome", "cpf": "cpf", "celular": None}


def test_the_fingerprint_is_the_set_of_keys() -> None:
    assert header_fingerprint(["b", "a", "a"]) == header_fingerprint(["a", "b"])
    assert header_fingerprint(["a", "b"]) != header_fingerprint(["a", "b", "c"])
    assert len(header_fingerprint([])) == 64


def read_matched(sources: list[Source], matching: Matching) -> tuple[list[Any], list[Any]]:
    parser = Parser(sources, BatchMode.LIST_MODE, None, Settings(), matching=matching)
    rows = [row for chunk in parser.chunks() for row in chunk]
    list(parser.amendments())
    return parser.profile.columns, rows


def test_a_list_read_stores_matched_columns_under_their_fields(tmp_path: Path) -> None:
    text = "Nome do Cliente,E-mail,Obs,email\nAna,a@x.com,vip,b@x.com\n"
    source = csv_source(tmp_path, "clientes.csv", text)
    columns, rows = read_matched([source], Matching(FIELDS, explicit={"E-mail": "email"}))
    assert [
        (c.normalized_key, c.target_field, c.matched_by, c.confidence, c.data_key) for c in columns
    ] == [
        ("nome_do_cliente", "nome", "alias", 1.0, "nome"),
        ("e_mail", "email", "explicit", 1.0, "email"),
        ("obs", None, None, None, "obs"),
        ("email_2", None, None, None, "email_2"),
    ]
    assert rows[0].data == {"nome": "Ana", "email": "a@x.com", "obs": "vip", "email_2": "b@x.com"}
    encoded = msgspec.json.decode(msgspec.json.encode(columns[2]))
    assert encoded["targetField"] is None
    assert encoded["matchedBy"] is None


def test_a_remembered_mapping_applies_only_to_its_header(tmp_path: Path) -> None:
    saved = {header_fingerprint(["fone_1", "nome"]): {"fone_1": "telefone"}}
    same = csv_source(tmp_path, "a.csv", "Nome,Fone 1\nAna,1\n")
    other = csv_source(tmp_path, "b.csv", "Nome,Fone 1,Obs\nAna,1,x\n")
    columns, rows = read_matched([same], Matching(FIELDS, saved=saved))
    assert (columns[1].target_field, columns[1].matched_by) == ("telefone", "saved")
    assert rows[0].data == {"nome": "Ana", "telefone": "1"}
    columns, _ = read_matched([other], Matching(FIELDS, saved=saved))
    assert (columns[1].target_field, columns[1].matched_by) == (None, None)


def test_several_sheets_are_matched_over_their_union(tmp_path: Path) -> None:
    def build(book: Any) -> None:
        first = book.add_worksheet("A")
        first.write_row(0, 0, ["Nome", "CEP"])
        first.write_row(1, 0, ["Ana", "01000-000"])
        second = book.add_worksheet("B")
        second.write_row(0, 0, ["Name", "Cidade"])
        second.write_row(1, 0, ["Bia", "Recife"])

    source = xlsx_source(tmp_path, "book.xlsx", build)
    columns, rows = read_matched([source], Matching(FIELDS))
    assert [(c.normalized_key, c.target_field) for c in columns] == [
        ("nome", "nome"),
        ("cep", "cep"),
        ("name", None),
        ("cidade", "cidade"),
    ]
    assert [row.data for row in rows] == [
        {"nome": "Ana", "cep": "01000-000", "name": None, "cidade": None},
        {"nome": None, "cep": None, "name": "Bia", "cidade": "Recife"},
    ]


def test_a_huge_schema_against_a_wide_header_keeps_exact_matches_and_skips_fuzzy() -> None:
    fields = [
        SchemaField(key=f"campo_{i}", aliases=[f"apelido {i} {j}" for j in range(50)])
        for i in range(1000)
    ]
    headers = ["campo_7", "Apelido 3 2", "Campo 8x", *(f"coluna extra {i}" for i in range(997))]
    matches = match_columns([(h, normalize_key(h)) for h in headers], fields)
    assert targets(matches[:3]) == [("campo_7", "key"), ("campo_3", "alias"), (None, None)]
    # With a small schema, the same near miss is a fuzzy match.
    assert one_of(fields[8:9], "Campo 8x") == ("campo_8", "fuzzy")


def one_of(fields: list[SchemaField], header: str) -> tuple[str | None, str | None]:
    match = match_columns([(header, normalize_key(header))], fields)[0]
    return match.target_field, match.matched_by
