"""Token checks: digests compared in constant time, never the tokens themselves logged."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenSet:
    """A set of accepted tokens, kept only as SHA-256 digests."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = [digest(t) for t in tokens if t]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def accepts(self, token: str | None) -> bool:
        """Compare against every digest without stopping early."""
        if not token:
            return False
        candidate = digest(token)
        found = False
        for known in self._digests:
            found |= hmac.compare_digest(candidate, known)
        return found

    def accepts_digest(self, hex_digest: str) -> bool:
        """As ``accepts``, for a digest already computed (hex)."""
        try:
            candidate = bytes.fromhex(hex_digest)
        except ValueError:
            return False
        found = False
        for known in self._digests:
            found |= hmac.compare_digest(candidate, known)
        return found


def credential(authorization: str | None) -> str | None:
    """The token from ``Bearer <token>`` or ``Basic base64(user:token)`` (password = token)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        return value or None
    if scheme == "basic":
        try:  # a non-ASCII value is a ValueError, not a binascii.Error
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None
