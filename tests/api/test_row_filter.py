"""Finding rows by content over HTTP: `q`, `where.<key>`, `delivery`, with `status`, and the
pages and `next` links of a filtered list."""

from __future__ import annotations

import random

import pytest

from service import row_filter
from service.entities import InferredType, RowStatus
from service.errors import Unprocessable
from service.store import users
from tests.factories import make_batch, make_project

RECORDS = [
    {"nome": "Ana", "cidade": "São Paulo", "idade": 30, "ativo": True},
    {"nome": "Bia", "cidade": "Lisboa", "idade": "30", "ativo": "false"},  # as CSV holds them
    {"nome": "Caio", "cidade": None, "idade": 41, "ativo": False},
    {"nome": "Duda", "cidade": "SAO PAULO", "idade": 7, "ativo": None},
    {"nome": "Élio", "cidade": "Porto", "idade": 30, "ativo": True},
]
STATUSES = [
    RowStatus.VALID,
    RowStatus.WARNING,
    RowStatus.ERROR,
    RowStatus.WARNING,
    RowStatus.VALID,
]
TYPES = {"idade": InferredType.INTEGER, "ativo": InferredType.BOOLEAN}


@pytest.fixture
async def url(client, auth, pool):
    await client.get("/users/me", headers=auth())
    owner = await users.upsert_by_external_id(pool, "owner", email=None, name=None)
    project = await make_project(pool, owner=owner)
    batch = await make_batch(pool, project=project, records=RECORDS, statuses=STATUSES, types=TYPES)
    return f"/projects/{project.id}/batches/{batch.id}"


async def names(client, auth, url, params):
    response = await client.get(url + "/rows", params=params, headers=auth())
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["items"]) or page["next"]
    return [row["data"]["nome"] for row in page["items"]]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("sao", ["Ana", "Duda"]),
        ("SÃO PAULO", ["Ana", "Duda"]),
        ("elio", ["Élio"]),
        ("30", ["Ana", "Bia", "Élio"]),  # numbers and text alike
        ("cidade", []),  # keys are not values
        ("ANA", ["Ana"]),
    ],
)
async def test_q_ignores_case_and_accents_over_every_value(client, auth, url, q, expected):
    assert await names(client, auth, url, {"q": q}) == expected


async def test_q_and_where_combine_with_status(client, auth, url):
    assert await names(client, auth, url, {"q": "paulo", "status": "warning"}) == ["Duda"]
    assert await names(client, auth, url, {"where.idade": "30", "status": "valid"}) == [
        "Ana",
        "Élio",
    ]
    assert await names(client, auth, url, {"where.idade": "30", "q": "lisb"}) == ["Bia"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"where.idade": "30"}, ["Ana", "Bia", "Élio"]),  # a number, or its text in CSV
        ({"where.idade": "+30"}, ["Ana", "Bia", "Élio"]),
        ({"where.idade": "3"}, []),
        ({"where.ativo": "false"}, ["Bia", "Caio"]),
        ({"where.ativo": "FALSO"}, ["Bia", "Caio"]),
        ({"where.ativo": ""}, ["Duda"]),  # empty: an empty cell
        ({"where.cidade": "Lisboa"}, ["Bia"]),
        ({"where.cidade": "lisboa"}, []),  # exact: case counts
        ({"where.cidade": ""}, ["Caio"]),
        ([("where.idade", "7"), ("where.idade", "41")], ["Caio", "Duda"]),  # any of them
        ([("where.idade", "30"), ("where.ativo", "true")], ["Ana", "Élio"]),  # all keys
    ],
)
async def test_where_is_exact_and_typed_as_the_column(client, auth, url, params, expected):
    assert await names(client, auth, url, params) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"where.idade": "trinta"}, "where.idade"),
        ({"where.idade": "30.5"}, "where.idade"),
        ({"where.ativo": "sim"}, "where.ativo"),
        ({"where.nope": "x"}, "where.nope"),
    ],
)
async def test_bad_where_is_a_422_naming_it(client, auth, url, params, field):
    response = await client.get(url + "/rows", params=params, headers=auth())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert field in response.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"where.cidade": "a\x00b"},
        {"q": "a\x00b"},
        {"q": "x" * 201},
        {"q": "a\x1fs"},  # the separator of values: it would match across two of them
        {"delivery": "lost"},
    ],
)
async def test_unstorable_or_oversized_filters_are_400(client, auth, url, params):
    response = await client.get(url + "/rows", params=params, headers=auth())
    assert response.status_code == 400, response.text


async def test_filtered_pages_follow_next_in_source_order(client, auth, url):
    seen: list[str] = []
    totals = set()
    link: str | None = url + "/rows?limit=1&where.idade=30&q=a"
    while link:
        page = (await client.get(link, headers=auth())).json()
        totals.add(page["total"])
        seen += [row["data"]["nome"] for row in page["items"]]
        link = page["next"]
        assert link is None or "where.idade=30" in link
    assert (seen, totals) == (["Ana", "Bia"], {2})
    offset = (await client.get(url + "/rows?q=a&offset=2&limit=1", headers=auth())).json()
    assert [r["data"]["nome"] for r in offset["items"]] == ["Caio"]  # Ana, Bia, Caio, Duda
    assert offset["total"] == 4


async def test_delivery_filter_matches_only_a_completed_batch(client, auth, url):
    assert await names(client, auth, url, {"delivery": "pending"}) == []
    reviewed = await client.patch(url, json={"status": "completed"}, headers=auth())
    assert reviewed.status_code == 200
    assert await names(client, auth, url, {"delivery": "pending", "q": "paulo"}) == [
        "Ana",
        "Duda",
    ]
    assert await names(client, auth, url, {"delivery": "done"}) == []


async def test_filters_on_another_users_batch_are_404(client, auth, url):
    for params in ({"q": "a"}, {"where.idade": "30"}, {"where.nope": "x"}):
        response = await client.get(url + "/rows", params=params, headers=auth("intruder"))
        assert response.status_code == 404


@pytest.mark.parametrize(
    ("kind", "text", "accepted"),
    [
        (InferredType.INTEGER, "007", [7, "7", "007"]),
        (InferredType.NUMBER, "1.50", [1.5, "1.5", "1.50"]),
        (InferredType.NUMBER, "2", [2, "2"]),
        (InferredType.BOOLEAN, "Verdadeiro", [True, "true", "Verdadeiro"]),
        (InferredType.DATE, "05/03/2026", ["2026-03-05", "05/03/2026"]),
        (InferredType.DATE, "2026-03-05", ["2026-03-05"]),
        (InferredType.DATETIME, "2026-03-05T10:00:00", ["2026-03-05T10:00:00"]),
        (InferredType.TIME, "10:00", ["10:00:00", "10:00"]),
        (InferredType.STRING, " x ", ["x", " x "]),
        (InferredType.EMAIL, "", [None]),
    ],
)
def test_accepted_values_by_type(kind, text, accepted):
    assert row_filter.accepted(kind, text, "where.k") == accepted


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (InferredType.NUMBER, "nan"),
        (InferredType.NUMBER, "1e999"),
        (InferredType.NUMBER, "1,5"),
        (InferredType.DATE, "31/02/2026"),
        (InferredType.DATETIME, "yesterday"),
        (InferredType.TIME, "25:00"),
        (InferredType.INTEGER, "1" * 19),
    ],
)
def test_values_that_do_not_fit_the_type_are_refused(kind, text):
    with pytest.raises(Unprocessable):
        row_filter.accepted(kind, text, "where.k")


async def test_the_search_pattern_finds_what_folding_finds(pool):
    """PostgreSQL's match of `search_pattern(q)` in the stored text agrees with Python's
    `fold(q) in fold(text)`, for texts and searches drawn from accents (precomposed and
    combining), cases, regular-expression syntax and other scripts."""
    alphabet = (
        list("aAeEoOcCnN sS.*+?()[]{}|^$\\-1")
        + list("áÁãçÇéÊíõÕüñŌǅΣσß€")
        + [
            "\u0301",
            "\u0303",
            "\u0327",
            "\u0338",
            "=",
            "≠",
        ]
    )
    chance = random.Random(19)
    cases = [("São Paulo", "sao"), ("Sa\u0303o", "SÃO"), ("Niterói", "OI"), ("a.b", ".")]
    cases += [("x(y", "("), ("BELÉM", "belem"), ("ab", "a\u0301b"), ("a=b", "≠")]
    cases += [('say "hi"', '"h'), ("a\\b", "\\"), ("k", "k"), ("7", "7"), ("l1\nl2", "1\nl")]
    for _ in range(400):
        text = "".join(chance.choices(alphabet, k=chance.randint(0, 12)))
        q = "".join(chance.choices(alphabet, k=chance.randint(1, 3)))
        cases.append((text, q))
    # As sql/row_filter.sql asks it: the row's jsonb text first, then its values.
    found = await pool.fetch(
        "SELECT (starts_with(t.pattern, '***:') OR t.data::text ~ t.pattern)"
        " AND (SELECT string_agg(e.value, chr(31)) FROM jsonb_each_text(t.data) AS e(k, value))"
        " ~ t.pattern AS found"
        " FROM (SELECT jsonb_build_object('k', u.text, 'n', 7) AS data, u.pattern, u.n"
        " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(text, pattern, n)) AS t"
        " ORDER BY t.n",
        [text for text, _ in cases],
        [row_filter.search_pattern(q) for _, q in cases],
    )
    expected = [row_filter.fold(q) in row_filter.fold(text) for text, q in cases]
    assert [record["found"] for record in found] == expected
