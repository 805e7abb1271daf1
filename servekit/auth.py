"""The API-key check the project's HTTP services share: ``Authorization: Bearer <key>``."""

from __future__ import annotations

import secrets


def bearer_matches(authorization: str, key: str) -> bool:
    """Whether the ``Authorization`` header value is ``Bearer <key>`` (the scheme in any case,
    the token compared in constant time so its timing does not leak the key)."""
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        token.strip().encode(), key.encode()
    )
