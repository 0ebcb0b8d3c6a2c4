"""`X-Hub-Signature-256` verification: pure, constant-time, several secrets for rotation."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

from worker.errors import SignatureError

__all__ = ["PREFIX", "SignatureError", "sign", "verify"]

PREFIX = "sha256="
_HEX64 = re.compile(r"[0-9a-f]{64}")


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub sends for `body` (used by tests and tools)."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(header: str | None, body: bytes, secrets: Iterable[bytes]) -> None:
    """Raise `SignatureError` unless `header` is a valid HMAC of `body` under some secret.

    Only `sha256=` is accepted (a `sha1=` signature is too weak to rely on); an empty secret is
    never accepted, since anyone can compute that HMAC. Every secret is tried with
    `hmac.compare_digest` so timing does not reveal which one (or how much) matched.
    """
    if not header:
        raise SignatureError("missing")
    if not header.isascii():
        raise SignatureError("malformed")
    value = header.strip()
    if not value.lower().startswith(PREFIX):
        raise SignatureError("unsupported_algorithm")
    digest = value[len(PREFIX) :].lower()
    if not _HEX64.fullmatch(digest):
        raise SignatureError("malformed")
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        matched |= hmac.compare_digest(expected, digest)
    if not matched:
        raise SignatureError("mismatch")
