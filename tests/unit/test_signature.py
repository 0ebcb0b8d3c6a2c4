"""`X-Hub-Signature-256` verification against GitHub's published vector and hostile headers."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DATA
from webhook.signature import SignatureError, sign, verify

VECTOR = json.loads((DATA / "github-payloads" / "signature-vector.json").read_text())[
    "github_docs_vector"
]
SECRET = VECTOR["secret"].encode()
BODY = VECTOR["payload"].encode()
HEADER = VECTOR["X-Hub-Signature-256"]


def test_githubs_published_vector() -> None:
    assert sign(SECRET, BODY) == HEADER
    verify(HEADER, BODY, [SECRET])


def test_uppercase_hex_and_surrounding_space_are_accepted() -> None:
    verify("  sha256=" + HEADER.removeprefix("sha256=").upper() + " ", BODY, [SECRET])


def test_rotation_accepts_every_configured_secret() -> None:
    old, new = b"old-secret", b"new-secret"
    verify(sign(old, BODY), BODY, [new, old])
    verify(sign(new, BODY), BODY, [new, old])
    with pytest.raises(SignatureError, match="mismatch"):
        verify(sign(b"third", BODY), BODY, [new, old])


def _reason(header: str | None, body: bytes = BODY, secrets: list[bytes] | None = None) -> str:
    with pytest.raises(SignatureError) as info:
        verify(header, body, [SECRET] if secrets is None else secrets)
    return info.value.reason


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("sha1=0a4d55a8d778e5022fab701977c5d840bbc486d0", "unsupported_algorithm"),
        (HEADER.removeprefix("sha256="), "unsupported_algorithm"),
        ("sha512=" + "0" * 128, "unsupported_algorithm"),
        ("sha256=", "malformed"),
        (HEADER[:-1], "malformed"),
        (HEADER + "0", "malformed"),
        ("sha256=" + "g" * 64, "malformed"),
        ("sha256=" + "é" * 64, "malformed"),
        (
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1\u0661",
            "malformed",
        ),
        ("sha256=" + "0" * 64, "mismatch"),
        (HEADER + ",sha256=" + "0" * 64, "malformed"),
    ],
)
def test_hostile_headers_are_refused(header: str | None, reason: str) -> None:
    assert _reason(header) == reason


def test_body_change_breaks_the_signature() -> None:
    assert _reason(HEADER, BODY + b" ") == "mismatch"
    assert _reason(HEADER, b"") == "mismatch"


def test_an_empty_secret_is_never_accepted() -> None:
    forged = sign(b"", BODY)
    assert _reason(forged, secrets=[b""]) == "mismatch"
    assert _reason(forged, secrets=[]) == "mismatch"
    assert _reason(forged) == "mismatch"
