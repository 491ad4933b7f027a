"""The HTTP fixtures of tests/api (the app, its client, tokens), for the schema tests."""

from tests.api.conftest import app, auth, client, settings, token_for

__all__ = ["app", "auth", "client", "settings", "token_for"]
