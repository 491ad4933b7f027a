"""The SQL re-validation's value kinds are inference.classify_text's, value for value.

Edits are re-validated inside the UPDATE that makes them (db/migrations/…_create_row_
revalidation_functions.sql): `sheetflow_text_kind` rewrites the regexes of
service/ingest/inference.py for PostgreSQL. This holds the two equal on the edge cases of
every kind and on a generated corpus of strings built from the pieces those regexes look at.
"""

from __future__ import annotations

import random

import msgspec

from service.ingest.inference import classify_text
from service.review import KIND_NAMES as NAMES

EDGES = [
    "0",
    "-0",
    "00",
    "007",
    "123456789012345678",
    "1234567890123456789",
    "-12",
    "1.5",
    "1.",
    ".5",
    "1e5",
    "1E+5",
    "1e-5",
    "-0.0",
    "1,5",
    "1.234,56",
    "true",
    "TRUE",
    "False",
    "falso",
    "VERDADEIRO",
    "verdade\u0130ro",
    "verdade\u0131ro",
    "fal\u017fo",
    "fal\u017fe",
    "trueish",
    "yes",
    "2024-02-29",
    "2023-02-29",
    "2024-02-30",
    "2024-04-31",
    "2024-12-31",
    "0999-01-01",
    "31/12/2024",
    "31/11/2024",
    "29/2/2023",
    "29/02/2024",
    "1/1/2024",
    "12/31/2024",
    "2024-01-01T10:00",
    "2024-01-01 10:00:00",
    "2024-01-01T10:00:00.123456789Z",
    "2024-01-01T10:00:00+03:00",
    "2024-01-01T10:00:00-0300",
    "2024-01-01T24:00",
    "2023-02-29T10:00",
    "31/12/2024 23:59",
    "31/12/2024T23:59",
    "0:00",
    "9:30",
    "23:59:59",
    "24:00",
    "36:00:00",
    "12:60",
    "12:30:15.5",
    "a@b.co",
    "a@b",
    "a.b@c-d.e.f",
    "a@-b.com",
    "a@b-.com",
    "ação@b.com",
    "'x'@y.zz",
    "http://x",
    "https://x.y/z?q#f",
    "HTTP\u017f://x",
    "ftp://h/p",
    "http://",
    "http:///x",
    "http://x y",
    "http://x\u00a0y",
    "mailto:a@b.co",
    "http://x/\u3000",
    "x",
    "ab cd",
    "\u0661\u0662",
    "1\n2",
    "٣",
]

PIECES = [
    "0",
    "1",
    "9",
    "12",
    "2024",
    "-",
    "+",
    ".",
    ",",
    "e",
    "E",
    ":",
    "/",
    "T",
    " ",
    "Z",
    "@",
    "a",
    "x",
    "\u017f",
    "\u0130",
    "\u0131",
    "true",
    "false",
    "falso",
    "verdadeiro",
    "http",
    "https",
    "ftp",
    "://",
    "com",
    "#",
    "?",
    "\u00a0",
    "\n",
    "29",
    "30",
    "31",
    "02",
    "13",
    "59",
    "60",
    "23",
    "24",
    "00",
    "1999",
    "0999",
]


def corpus(count: int, seed: int = 19) -> list[str]:
    chooser = random.Random(seed)
    values = set()
    while len(values) < count:
        text = "".join(chooser.choice(PIECES) for _ in range(chooser.randint(1, 7))).strip()
        if text:
            values.add(text)
    return sorted(values)


async def _sql_kinds(pool, texts: list[str]) -> list[str]:
    rows = await pool.fetch(
        "SELECT sheetflow_value_kind(to_jsonb(t)) AS kind"
        " FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n",
        texts,
    )
    return [row["kind"] for row in rows]


async def test_edge_cases_of_every_kind_classify_as_in_python(pool):
    texts = [text.strip() for text in EDGES]
    expected = [NAMES[classify_text(text)] for text in texts]

    assert dict(zip(texts, await _sql_kinds(pool, texts), strict=True)) == dict(
        zip(texts, expected, strict=True)
    )
    assert set(expected) == set(NAMES.values())


async def test_a_generated_corpus_classifies_as_in_python(pool):
    texts = corpus(30_000)
    expected = [NAMES[classify_text(text)] for text in texts]

    mismatched = {
        text: (sql, python)
        for text, sql, python in zip(texts, await _sql_kinds(pool, texts), expected, strict=True)
        if sql != python
    }

    assert mismatched == {}
    assert len(set(expected)) >= 6


JSON_VALUES = [None, True, 3, 3.0, 3.5, 2**53, 2**53 + 1, 1e300, "", ["a"], {"a": 1}]


async def test_stored_values_of_other_json_types(pool):
    kinds = await pool.fetch(
        "SELECT sheetflow_value_kind(v) AS kind FROM unnest($1::jsonb[]) WITH ORDINALITY AS"
        " u(v, n) ORDER BY n",
        # As JSON bytes: asyncpg would read a list inside the jsonb[] array as a sub-array.
        [None] + [msgspec.Raw(msgspec.json.encode(value)) for value in JSON_VALUES],
    )
    assert [row["kind"] for row in kinds] == [
        "empty",
        "empty",
        "boolean",
        "integer",
        "integer",
        "number",
        "integer",
        "number",
        "number",
        "empty",
        "string",
        "string",
    ]
