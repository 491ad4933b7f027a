"""Whole-column type inference (spec §4.4): the kinds of text, the 95 % rule, and the
chunk fast paths agreeing with the per-value definition."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from service.entities import InferredType
from service.ingest import inference
from service.ingest.inference import ColumnStats, classify_text, infer_type, text_misfits
from service.ingest.values import prepare_text
from tests.ingest.uploads import csv_source, ingest, types

KIND_NAMES = ["integer", "number", "boolean", "date", "datetime", "time", "email", "url", "string"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("0", "integer"),
        ("-17", "integer"),
        ("123456789012345678", "integer"),
        ("1234567890123456789", "number"),
        ("00123", "string"),
        ("-012", "string"),
        ("3.14", "number"),
        ("-0.5", "number"),
        ("1e10", "number"),
        ("1.234,56", "string"),
        ("1,5", "string"),
        (".5", "string"),
        ("TRUE", "boolean"),
        ("falso", "boolean"),
        ("Verdadeiro", "boolean"),
        ("yes", "string"),
        ("2024-02-29", "date"),
        ("2023-02-29", "string"),
        ("2024-04-31", "string"),
        ("0999-01-01", "string"),
        ("31/12/2024", "date"),
        ("1/2/2024", "date"),
        ("12/31/2024", "string"),
        ("2024-01-02T03:04:05", "datetime"),
        ("2024-01-02 03:04", "datetime"),
        ("2024-01-02T03:04:05.123+03:00", "datetime"),
        ("2024-01-02T03:04:05Z", "datetime"),
        ("02/01/2024 03:04:05", "datetime"),
        ("30/02/2024 03:04", "string"),
        ("7:05", "time"),
        ("23:59:59", "time"),
        ("24:00", "string"),
        ("ana@example.com.br", "email"),
        ("ana@localhost", "string"),
        ("https://example.com/a?b=c", "url"),
        ("FTP://files.example.com", "url"),
        ("www.example.com", "string"),
        ("São Paulo", "string"),
    ],
)
def test_kind_of_text(text: str, kind: str) -> None:
    assert KIND_NAMES[classify_text(text)] == kind


def test_column_types_from_an_upload(tmp_path: Path) -> None:
    header = "id,preco,ativo,nascimento,criado,hora,email,site,cep,nome,vazio"
    rows = [
        "1,10.5,true,31/12/1990,2024-01-02T10:00:00,08:00,a@x.com,http://x.com,01001-000,Ana,",
        "2,11,false,01/01/1991,2024-01-03 11:00,09:30:15,b@x.com,https://y.org,00123,Bia,",
        "3,12.25,TRUE,15/06/1992,2024-01-04T12:00:00Z,10:00,c@x.com,ftp://z.net,12345,Caio,",
    ]
    found, _ = ingest([csv_source(tmp_path, "t.csv", "\n".join([header, *rows]) + "\n")])
    assert types(found) == {
        "id": "integer",
        "preco": "number",
        "ativo": "boolean",
        "nascimento": "date",
        "criado": "datetime",
        "hora": "time",
        "email": "email",
        "site": "url",
        "cep": "string",
        "nome": "string",
        "vazio": "empty",
    }


def counts_of(values: list[str]) -> tuple[list[int], int]:
    stats = ColumnStats()
    stats.add_text(prepare_text(values, 10_000, surrogates=False))
    return stats.counts, stats.filled


def test_95_percent_rule() -> None:
    assert infer_type(*counts_of(["1"] * 19 + ["x"])) is InferredType.INTEGER  # 95 %
    assert infer_type(*counts_of(["1"] * 18 + ["x", "y"])) is InferredType.STRING  # 90 %
    # Empty values do not count: 19 of 19 non-empty values are integers.
    assert infer_type(*counts_of(["1"] * 19 + [""] * 30)) is InferredType.INTEGER


def test_best_fit_wins_and_ties_go_to_the_more_specific_type() -> None:
    # Integers fit `number` too: 96 % integers and 4 % decimals make a number column.
    assert infer_type(*counts_of(["1"] * 96 + ["1.5"] * 4)) is InferredType.NUMBER
    assert infer_type(*counts_of(["1"] * 100)) is InferredType.INTEGER
    assert infer_type(*counts_of(["2024-01-01"] * 10)) is InferredType.DATE
    mixed = ["2024-01-01"] * 5 + ["2024-01-01 10:00"] * 5
    assert infer_type(*counts_of(mixed)) is InferredType.DATETIME
    assert infer_type(*counts_of(["", ""])) is InferredType.EMPTY


def test_leading_zero_numerals_make_a_string_column() -> None:
    assert infer_type(*counts_of(["00123", "01", "7"])) is InferredType.STRING
    assert infer_type(*counts_of(["0", "-0", "10"])) is InferredType.INTEGER


def _random_value(rng: random.Random) -> str:
    pieces = [
        str(rng.randint(-(10**6), 10**6)),
        f"0{rng.randint(0, 999)}",
        f"{rng.randint(0, 999)}.{rng.randint(0, 99)}",
        rng.choice(["true", "False", "VERDADEIRO", "nope"]),
        f"{rng.randint(1990, 2030)}-{rng.randint(1, 13):02d}-{rng.randint(1, 32):02d}",
        f"{rng.randint(1, 32)}/{rng.randint(1, 13)}/{rng.randint(1990, 2030)}",
        f"2024-02-{rng.randint(27, 31)}T{rng.randint(0, 25):02d}:{rng.randint(0, 59):02d}",
        f"{rng.randint(0, 25)}:{rng.randint(0, 61):02d}",
        f"user{rng.randint(0, 9)}@example.com",
        f"https://example.com/{rng.randint(0, 9)}",
        rng.choice(["São Paulo", "t", "-", "1e5", "12345678901234567890", ""]),
    ]
    return rng.choice(pieces)


@pytest.mark.parametrize("seed", range(40))
def test_chunk_fast_paths_agree_with_the_definition(seed: int) -> None:
    rng = random.Random(seed)
    # Homogeneous chunks (the fast paths' case) and mixed ones.
    kind = rng.randrange(len(KIND_NAMES) + 1)
    values: list[str] = []
    while len(values) < 300:
        value = _random_value(rng)
        wanted = kind == len(KIND_NAMES) or not value or classify_text(value) == kind
        if wanted or rng.random() < 0.01:  # a few intruders make some chunks mixed
            values.append(value)
    chunk = prepare_text(values, 10_000, surrogates=False)
    expected = [0] * inference.KIND_COUNT
    for value in values:
        if value:
            expected[classify_text(value)] += 1
    for guess in range(inference.KIND_COUNT):
        assert inference.text_kind_counts(chunk, guess) == expected
    for type_ in InferredType:
        fitting = inference.FITTING_KINDS[type_]
        misfits = [i for i, v in enumerate(values) if v and classify_text(v) not in fitting]
        if type_ in (InferredType.STRING, InferredType.EMPTY):
            misfits = []
        assert text_misfits(chunk, type_) == misfits
