"""Secrets generated once into the data directory, for local use: the JWT signing secret
(`jwt-secret`) and the embedded PostgreSQL's password (`postgres-password`).

Each is created with mode 0600 by whoever needs it first (`O_EXCL`, so two processes
starting together agree on one), and read back as it is from then on.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_BYTES = 48
"""Random bytes in a generated secret (64 URL-safe characters: well over HS256's 32 bytes)."""


def read_or_create(path: Path) -> str:
    """The secret in `path`, generated (0600) if the file does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if not secret:
            raise SystemExit(f"{path} is empty: delete it to have a new secret generated") from None
        return secret
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(SECRET_BYTES))
    return path.read_text().strip()
