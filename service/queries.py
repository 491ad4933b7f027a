"""The query module: every SQL statement lives in `sql/*.sql`; this loads and runs them.

A file holds one or more queries, each opened by a header and a one-line description:

    -- name: get_batch :one
    -- A live batch by id.
    SELECT ...

Kinds: `:one` (a Struct or None), `:many` (a list of Structs), `:scalar` (one value),
`:exec` (the status string), `:copy` (`COPY table (columns) FROM STDIN`, run through
`copy_records_to_table`, which writes its own COPY statement from the declared table and
columns). A `:many` query may also be streamed: through `COPY (…) TO STDOUT` (`copy_out`)
or a server-side cursor (`cursor`). Loading fails fast on a duplicate name, an unknown
kind, a missing description or an empty body. For the other kinds the header stays in the
text sent to PostgreSQL, so server logs and `pg_stat_activity` show which query ran.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from service.db import Connection, Executor

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
KINDS = frozenset({"one", "many", "scalar", "exec", "copy"})

_HEADER = re.compile(r"^-- name: (?P<name>[a-z][a-z0-9_]*) :(?P<kind>\w+)\s*$", re.MULTILINE)
_COPY = re.compile(
    r"^COPY\s+(?P<table>[a-z_][a-z0-9_]*)\s*\((?P<columns>[a-z0-9_,\s]+)\)\s+FROM\s+STDIN\s*;?\s*$",
    re.IGNORECASE,
)

T = TypeVar("T")


class QueryError(Exception):
    """A malformed `sql/` file or a query used against its declared kind: a programming error."""


class Query(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: str
    description: str
    sql: str
    source: str
    copy_table: str | None = None
    copy_columns: tuple[str, ...] = ()


def parse(text: str, source: str) -> list[Query]:
    """Split one `.sql` file into its queries (text before the first header is the file's
    own description and is ignored)."""
    headers = list(_HEADER.finditer(text))
    queries = []
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        name, kind = header["name"], header["kind"]
        where = f"{source}: query {name!r}"
        if kind not in KINDS:
            raise QueryError(f"{where} has unknown kind :{kind} (use one of {sorted(KINDS)})")
        lines = text[header.end() : end].strip("\n").splitlines()
        if not lines or not lines[0].startswith("-- ") or not lines[0][3:].strip():
            raise QueryError(f"{where} needs a one-line `-- description` under its header")
        body = "\n".join(line for line in lines[1:] if not line.startswith("--")).strip()
        if not body:
            raise QueryError(f"{where} has an empty body")
        copy_target = _COPY.match(body)
        if kind == "copy" and copy_target is None:
            raise QueryError(f"{where} must be `COPY table (columns) FROM STDIN`")
        queries.append(
            Query(
                name=name,
                kind=kind,
                description=lines[0][3:].strip(),
                sql=f"{header[0].strip()}\n" + "\n".join(lines[1:]).strip(),
                source=source,
                copy_table=copy_target["table"] if copy_target else None,
                copy_columns=tuple(column.strip() for column in copy_target["columns"].split(","))
                if copy_target
                else (),
            )
        )
    return queries


def load(directory: Path = SQL_DIR) -> dict[str, Query]:
    queries: dict[str, Query] = {}
    for path in sorted(directory.glob("*.sql")):
        for query in parse(path.read_text(encoding="utf-8"), path.name):
            if query.name in queries:
                raise QueryError(
                    f"duplicate query name {query.name!r} in {path.name} "
                    f"and {queries[query.name].source}"
                )
            queries[query.name] = query
    return queries


QUERIES = load()


def _query(name: str, kind: str) -> Query:
    query = QUERIES[name]
    if query.kind != kind:
        raise QueryError(f"query {name!r} is :{query.kind}, not :{kind}")
    return query


async def one(db: Executor, name: str, *args: Any, into: type[T]) -> T | None:
    record = await db.fetchrow(_query(name, "one").sql, *args)
    return None if record is None else msgspec.convert(dict(record.items()), into)


async def many(db: Executor, name: str, *args: Any, into: type[T]) -> list[T]:
    records = await db.fetch(_query(name, "many").sql, *args)
    return msgspec.convert([dict(record.items()) for record in records], list[into])  # type: ignore[valid-type]


async def scalar(db: Executor, name: str, *args: Any, guard_seconds: float | None = None) -> Any:
    """One value; `guard_seconds` replaces the connection's client-side `command_timeout`."""
    return await db.fetchval(_query(name, "scalar").sql, *args, timeout=guard_seconds)


async def execute(db: Executor, name: str, *args: Any, guard_seconds: float | None = None) -> str:
    """The status string; `guard_seconds` replaces the client-side `command_timeout`."""
    return str(await db.execute(_query(name, "exec").sql, *args, timeout=guard_seconds))


async def copy(
    db: Executor,
    name: str,
    records: Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]],
    *,
    guard_seconds: float | None = None,
) -> int:
    """Binary COPY of `records` (each in the declared column order); returns the row count.

    asyncpg consumes an iterable or async iterable lazily, in buffers, so the caller's
    memory stays flat however many records there are. `guard_seconds` replaces the
    connection's client-side `command_timeout` for this COPY.
    """
    query = _query(name, "copy")
    assert query.copy_table is not None
    status = await db.copy_records_to_table(
        query.copy_table, columns=list(query.copy_columns), records=records, timeout=guard_seconds
    )
    return int(status.rsplit(" ", 1)[1])


async def copy_out(
    conn: Connection,
    name: str,
    *args: Any,
    output: Callable[[bytes], Awaitable[None]],
    format: str,
    delimiter: str | None = None,
    quote: str | None = None,
    guard_seconds: float | None = None,
) -> None:
    """Run the SELECT of a `:many` query as `COPY (…) TO STDOUT` and hand what PostgreSQL
    writes to `output`, buffer by buffer (asyncpg waits for `output` before it reads on, so a
    slow consumer slows the server down instead of filling memory). COPY takes no bind
    parameters: asyncpg has the server quote each argument as a literal first."""
    await conn.copy_from_query(
        _query(name, "many").sql.rstrip().rstrip(";"),
        *args,
        output=output,
        format=format,
        delimiter=delimiter,
        quote=quote,
        timeout=guard_seconds,
    )


async def cursor(
    conn: Connection, name: str, *args: Any, prefetch: int
) -> AsyncIterator[tuple[Any, ...]]:
    """The rows of a `:many` query through a server-side cursor, `prefetch` at a time, as
    tuples (for readers of many rows that build no Struct per row). Needs a transaction."""
    async for record in conn.cursor(_query(name, "many").sql, *args, prefetch=prefetch):
        yield tuple(record.values())
