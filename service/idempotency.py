"""Idempotency-Key on the creating POSTs (`/projects`, `/projects/{id}/batches`): a client that
retries a create whose answer it lost gets what the first attempt made, never a second copy.
A `Claim` holds one request's key: its fingerprint, the early replay check, and, in the
creating transaction, the lock and the record (its docstring has the picture);
`KeysInFlight` refuses a concurrent retry to this process at once. No HTTP here: the header
and the 201 answer are `service.api.idempotency_key`'s.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar
from uuid import UUID

from service import errors
from service.db import Connection, Executor, Pool, transaction
from service.entities import Batch
from service.store import idempotency

KEY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
"""Printable ASCII, starting and ending with a visible character (servers may strip spaces
around a header value); written with \\x escapes, so that Python and ECMA regexes agree."""


class Identified(Protocol):
    @property
    def id(self) -> UUID: ...


R = TypeVar("R", bound=Identified)


class Fingerprint:
    """The SHA-256 that tells one request from another: its parts in order, each framed by its
    length (so that `ab`+`c` and `a`+`bc` differ), then every file's name and the SHA-256 of
    its bytes, which `file` hands out to be fed while the file is being spooled."""

    def __init__(self, *parts: str | bytes | None) -> None:
        self._parts = list(parts)
        self._files: list[tuple[str, hashlib._Hash]] = []

    def file(self, name: str) -> hashlib._Hash:
        """A fresh SHA-256 for the bytes of the next file, which is called `name`."""
        content = hashlib.sha256()
        self._files.append((name, content))
        return content

    def digest(self) -> bytes:
        whole = hashlib.sha256()
        parts = [*self._parts]
        for name, content in self._files:
            parts += [name, content.digest()]
        for part in parts:
            if part is None:
                whole.update(b"\xff" * 8)  # no length frames as this many bytes
                continue
            data = part.encode() if isinstance(part, str) else part
            whole.update(len(data).to_bytes(8, "big") + data)
        return whole.digest()


def in_flight(key: str) -> errors.RequestInFlight:
    return errors.RequestInFlight(
        f"a request with the {KEY_HEADER} {key!r} is still being processed; retry once it "
        "has finished to get its answer"
    )


class Replayed(Exception):
    """The key has already created `resource_id`, for this very request: answer with that.
    Raised inside a creating transaction, it also rolls that attempt back."""

    def __init__(self, resource_id: UUID) -> None:
        super().__init__(f"already created {resource_id}")
        self.resource_id = resource_id

    def gone(self, noun: str) -> errors.NotFound:
        return errors.NotFound(
            f"the {noun} created with this {KEY_HEADER} ({self.resource_id}) has since been "
            "deleted; send a new key to create another"
        )


class Claim:
    """One request's hold on its key: its fingerprint, and the checks and the record that
    make the create happen once.

        request with key K (per user)
          │ this process is already working on K? ───────────────────── yes ─► 409
          ▼
        read the body, hashing it: operation, ids, fields, every file's name and bytes
          │ committed, unexpired record of K? ──── same hash ─► 201 replay, nothing done again
          │                                        other hash ─► 422
          ▼
        creating transaction: lock K (pg_try_advisory_xact_lock) ── held ─► 409, roll back
          │                   read K again ── committed meanwhile ─► replay / 422, roll back
          ▼                   store K, hash and id; COMMIT with the resource
        201

    The advisory lock is what makes this hold across connections and processes: it is held until
    the creating transaction ends, and K is read again after taking it, in a new statement (READ
    COMMITTED: a new snapshot), so a first attempt that committed in the meantime is seen. A first
    attempt that fails or rolls back leaves no record and releases the lock: the key is free again.
    `KeysInFlight` only makes a concurrent retry to the same process answer 409 at once, while the
    first attempt is still reading or parsing and has no transaction yet; a retry to another process
    finds out when it reaches its own transaction.

    A replay answers with the resource as it is now (a batch reviewed since shows its new status);
    if the resource has been deleted since, the answer is 404 and the key stays spent until it
    expires (running the request again would bring back what its owner deleted).
    """

    def __init__(
        self, user_id: UUID, key: str, ttl_seconds: int, *operation: str | bytes | None
    ) -> None:
        self.user_id = user_id
        self.key = key
        self.ttl_seconds = ttl_seconds
        self.fingerprint = Fingerprint(*operation)

    async def check(self, db: Executor) -> None:
        """Return if the key is unused; raise `Replayed` if it created something for the same
        request, `KeyReused` if for a different one. Without the lock it is an early answer,
        which `take` confirms."""
        record = await idempotency.get(db, self.user_id, self.key)
        if record is None:
            return
        if record.request_hash != self.fingerprint.digest():
            raise errors.KeyReused(
                f"the {KEY_HEADER} {self.key!r} was already used for a different request; "
                "send a new key with a new request"
            )
        raise Replayed(record.resource_id)

    async def take(self, conn: Connection) -> None:
        """In the creating transaction: hold the key until it ends, then check it again."""
        if not await idempotency.lock(conn, self.user_id, self.key):
            raise in_flight(self.key)
        await self.check(conn)

    async def keep(self, conn: Connection, resource_id: UUID) -> None:
        """In the creating transaction, holding the key: record what it created."""
        created = await idempotency.create(
            conn,
            self.user_id,
            self.key,
            request_hash=self.fingerprint.digest(),
            resource_id=resource_id,
            ttl_seconds=self.ttl_seconds,
        )
        # Unreachable while every writer takes the lock first; never overwrite a live record.
        assert created, "a live idempotency record appeared under the lock"
        await idempotency.purge_expired(conn)

    async def on_batch_created(self, conn: Connection, batch: Batch) -> None:
        """`ingestion.ingest`'s hook: take the key and record the batch, in its transaction."""
        await self.take(conn)
        await self.keep(conn, batch.id)


async def create_once(
    pool: Pool, claim: Claim | None, make: Callable[[Executor], Awaitable[R]]
) -> R:
    """`make` the resource: on the pool without a key, else in one transaction that takes the
    key first (so a retry racing the first attempt is 409, and a committed one a replay) and
    records the resource with it."""
    if claim is None:
        return await make(pool)
    async with transaction(pool) as conn:
        await claim.take(conn)
        resource = await make(conn)
        await claim.keep(conn, resource.id)
    return resource


class KeysInFlight:
    """The keys this process is working on right now, per user; keys it records are kept for
    `ttl_seconds`."""

    def __init__(self, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds
        self._keys: set[tuple[UUID, str]] = set()

    @contextmanager
    def claim(
        self, user_id: UUID, key: str | None, *operation: str | bytes | None
    ) -> Iterator[Claim | None]:
        """The request's `Claim` (None without a key) for as long as it runs; 409 if this
        process is already running a request of this user with this key."""
        if key is None:
            yield None
            return
        if len(key) > MAX_KEY_LENGTH or not re.fullmatch(KEY_PATTERN, key):
            raise errors.InvalidInput(
                f"the {KEY_HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII "
                "characters, without spaces at either end (a UUID will do)"
            )
        if (user_id, key) in self._keys:
            raise in_flight(key)
        self._keys.add((user_id, key))
        try:
            yield Claim(user_id, key, self.ttl_seconds, *operation)
        finally:
            self._keys.discard((user_id, key))
