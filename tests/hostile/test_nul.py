"""Adversarial: NUL in every text input (issue 14, item 7).

PostgreSQL cannot store NUL (U+0000) in text, so a NUL that reached SQL failed there, a
500. The text inputs are enumerated here from the OpenAPI document itself (path, query and
header parameters, JSON and multipart body fields, the uploaded files' names), so that an
input added later is covered without a new test; the token's claims are added by hand.
Each answers 400 naming the input (401 for a token), and nothing is written.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from service.api.app import create_app
from service.settings import Settings
from tests.api.conftest import SECRET
from tests.hostile.conftest import Service

NUL = "a\x00b"
DOCUMENT = create_app(
    Settings(data_dir=Path(tempfile.gettempdir()), jwt_secret=SECRET), "postgresql://"
).openapi_schema.to_schema()


def schema_of(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its `$ref`s and a lone `allOf` followed."""
    while True:
        if len(schema.get("allOf", ())) == 1:
            schema = schema["allOf"][0]
        elif "$ref" in schema:
            schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        else:
            return schema


def options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = schema_of(schema)
    return [schema_of(option) for option in schema.get("oneOf") or schema.get("anyOf") or [schema]]


def is_text(schema: dict[str, Any]) -> bool:
    """Free text: a string that is not a UUID, a date, binary or an enum (those are parsed
    before any use, and a NUL cannot survive the parse)."""
    return any(
        option.get("type") == "string" and "format" not in option and "enum" not in option
        for option in options(schema)
    )


def sample(schema: dict[str, Any]) -> Any:
    """A valid value for a required field."""
    for option in options(schema):
        if "enum" in option:
            return option["enum"][0]
        if option.get("type") == "string":
            return "x"
        if option.get("type") == "object":
            return {}
    raise AssertionError(f"no sample value for {schema}: teach this test one")


def text_inputs() -> Iterator[Any]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if is_text(parameter["schema"]):
                    where = parameter["in"]
                    yield pytest.param(
                        method,
                        path,
                        where,
                        parameter["name"],
                        id=f"{method} {path} {where}:{parameter['name']}",
                    )
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                for name, schema in schema_of(content["schema"]).get("properties", {}).items():
                    if is_text(schema):
                        yield pytest.param(
                            method, path, media, name, id=f"{method} {path} {media}:{name}"
                        )
                    if schema_of(schema).get("items", {}).get("format") == "binary":
                        yield pytest.param(
                            method,
                            path,
                            media,
                            f"{name}[].filename",
                            id=f"{method} {path} {media}:{name}[].filename",
                        )


def body(media: str, path: str, method: str, target: str | None) -> dict[str, Any]:
    """httpx arguments for a valid body of the operation, with `target` set to NUL."""
    content = DOCUMENT["paths"][path][method]["requestBody"]["content"][media]
    schema = schema_of(content["schema"])
    required = set(schema.get("required", ()))
    fields: dict[str, Any] = {}
    files: list[tuple[str, str]] = []
    for name, field in schema.get("properties", {}).items():
        if schema_of(field).get("items", {}).get("format") == "binary":
            files.append((name, NUL + ".csv" if target == f"{name}[].filename" else "a.csv"))
        elif name == target:
            fields[name] = NUL
        elif name in required:
            fields[name] = sample(field)
    if media == "application/json":
        return {"json": fields}
    if media == "application/octet-stream":  # the raw-body upload: one file, named by a header
        return {
            "content": b"a\r\n1\r\n",
            "headers": {
                "Content-Type": media,
                "Content-Disposition": "attachment; filename=a.csv",
            },
            "params": {"mode": "list_mode"},
        }
    assert media == "multipart/form-data", f"teach this test {media}"
    return multipart(fields, files)


def multipart(fields: dict[str, str], files: list[tuple[str, str]]) -> dict[str, Any]:
    """A multipart body written by hand: httpx would percent-encode a NUL in a filename,
    and a client need not."""
    boundary = "nul-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"'
        f"\r\nContent-Type: text/csv\r\n\r\na\r\n1\r\n\r\n"
        for name, filename in files
    ]
    return {
        "content": ("".join(parts) + f"--{boundary}--\r\n").encode(),
        "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    }


@pytest.fixture(scope="module")
async def ids(service: Service) -> dict[str, str]:
    """A value for every path parameter: the module's project, a batch and a row of it."""
    uploaded = await service.upload([("a.csv", b"a\r\n1\r\n")])
    assert uploaded.status_code == 201, uploaded.text
    batch = uploaded.json()
    rows = await service.get(uploaded.headers["location"] + "/rows")
    return {
        "project_id": service.project,
        "batch_id": batch["id"],
        "row_id": rows["items"][0]["id"],
        "key": "a",
    }


async def written(service: Service) -> tuple[Any, ...]:
    projects = await service.pool.fetchval("SELECT count(*) FROM projects")
    return (projects, *(await service.stored()))


@pytest.mark.parametrize(("method", "path", "where", "name"), list(text_inputs()))
async def test_nul_in_a_text_input_is_a_400_naming_it(
    service: Service, ids: dict[str, str], method: str, path: str, where: str, name: str
) -> None:
    values = dict(ids)
    headers = dict(service.headers)
    params: dict[str, str] = {}
    arguments: dict[str, Any] = {}
    # The body goes as the target's media type, else raw when the operation takes one (its
    # query and header parameters are the raw upload's), else as the operation's first.
    media_types = list(DOCUMENT["paths"][path][method].get("requestBody", {}).get("content", {}))
    raw = "application/octet-stream"
    media = where if where in media_types else raw if raw in media_types else None
    media = media or next(iter(media_types), None)
    if media is not None:
        arguments = body(media, path, method, name if where == media else None)
    headers.update(arguments.pop("headers", {}))
    params.update(arguments.pop("params", {}))
    if where == "path":
        values[name] = "a%00b"
    elif where == "query":
        params[name] = NUL
    elif where == "header":
        headers[name] = NUL
    url = re.sub(r"\{(\w+)\}", lambda match: values[match[1]], path)
    before = await written(service)
    client = await service.client()
    response = await client.request(
        method.upper(), url, params=params, headers=headers, **arguments
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    named = "file name" if name.endswith("filename") else name
    assert named.lower() in response.text.lower(), response.text
    # It says what is wrong: NUL, or what the input must be instead (the Idempotency-Key
    # header has a stricter rule of its own: printable ASCII).
    assert "NUL" in response.text or "printable ASCII" in response.text, response.text
    assert await written(service) == before


@pytest.mark.parametrize("claim", ["sub", "email", "name"])
async def test_nul_in_a_token_claim_is_a_401(service: Service, claim: str) -> None:
    now = int(time.time())
    claims = {"sub": "nul-claims", "iat": now, "exp": now + 600, claim: NUL}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    before = await service.pool.fetchval("SELECT count(*) FROM users")
    client = await service.client()
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert f"`$.{claim}`" in response.json()["detail"]
    assert "NUL" in response.json()["detail"]
    assert await service.pool.fetchval("SELECT count(*) FROM users") == before
