"""The identity provider's signing keys (`SHEETFLOW_JWKS_URL`), fetched when a token names
a key not seen yet, and kept.

Built to stay cheap when the key server is down or slow, or when tokens name made-up
keys on purpose:

- **One fetch at a time.** A fetch runs in one thread; every request that needs it waits
  for that same fetch, never for a queue of them, and never past the fetch's own deadline
  (`SHEETFLOW_JWKS_TIMEOUT_SECONDS` after it started), even if the thread is still stuck.
- **A cooldown after every attempt**, failed ones included: within
  `SHEETFLOW_JWKS_REFRESH_SECONDS` of the last attempt an unknown key is refused at once,
  without a fetch. So a flood of made-up `kid`s costs one fetch per cooldown, and an
  outage one timeout per cooldown.
- **Known keys keep working** through an outage: a failed fetch leaves the keys already
  fetched as they were.

PyJWT's `PyJWKClient` does the download (no redirects, a JSON object expected); its own
cache is not used: it holds a lock across fetches and starts its cooldown only after a
successful one.
"""

from __future__ import annotations

import asyncio
import logging
import time

import jwt

logger = logging.getLogger(__name__)


class KeyNotFound(Exception):
    """No key with the token's `kid`, and no fetch now could find one."""


class KeySet:
    def __init__(self, url: str, *, refresh_seconds: float, timeout_seconds: float) -> None:
        self.refresh_seconds = refresh_seconds
        self.timeout_seconds = timeout_seconds
        self.client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout_seconds)
        self.keys: dict[str, jwt.PyJWK] = {}
        self.attempted_at: float | None = None
        """When the last fetch started (monotonic seconds), whatever its outcome."""
        self.fetching: asyncio.Future[None] | None = None
        self.fetches = 0
        """Fetches started so far (tests count them)."""

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The key named `kid`: a known one, or one found by the fetch now running, or by a
        new fetch if the last attempt is older than the cooldown."""
        if kid is not None and kid in self.keys:
            return self.keys[kid]
        now = time.monotonic()
        if self.fetching is None:
            if self.attempted_at is not None and now - self.attempted_at < self.refresh_seconds:
                raise KeyNotFound(f"no signing key {kid!r} (the key set was fetched recently)")
            self.attempted_at = now
            self.fetches += 1
            self.fetching = asyncio.ensure_future(self._fetch())
        assert self.attempted_at is not None
        deadline = self.attempted_at + self.timeout_seconds
        try:
            await asyncio.wait_for(asyncio.shield(self.fetching), max(0.0, deadline - now))
        except TimeoutError:
            raise KeyNotFound("the key set could not be fetched in time") from None
        if kid is None or kid not in self.keys:
            raise KeyNotFound(f"no signing key {kid!r} in the key set")
        return self.keys[kid]

    async def _fetch(self) -> None:
        """Fetch the set, in a thread; keep the old keys if that fails (logged, never
        raised: the waiters look the key up afterwards either way)."""
        try:
            data = await asyncio.to_thread(self.client.fetch_data)
            found = jwt.PyJWKSet.from_dict(data)
        except Exception as error:
            # Whatever went wrong (unreachable, timeout, not JSON, no usable key), there is
            # no new key: logged, never raised, so that a waiting request gets a 401.
            logger.warning("fetching the JWKS failed: %s", error)
        else:
            self.keys = {
                key.key_id: key
                for key in found.keys
                if key.key_id and key.public_key_use in ("sig", None)
            }
        finally:
            self.fetching = None
