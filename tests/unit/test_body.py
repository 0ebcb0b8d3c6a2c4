"""The body limit is inclusive, at the boundary, for both framings a server can hand us."""

from __future__ import annotations

import io
from typing import Any

import pytest

from webhook.body import BodyTooLarge, input_stream, read_limited
from webhook.payload import PayloadError

LIMIT = 1000


def _environ(body: bytes, *, chunked: bool) -> dict[str, Any]:
    """What gunicorn (or werkzeug's server) hands the app: a chunked body has no length and a
    stream the server ends (`wsgi.input_terminated`); gunicorn sets that flag for every body."""
    environ: dict[str, Any] = {"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True}
    if not chunked:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("size", "accepted"), [(LIMIT - 1, True), (LIMIT, True), (LIMIT + 1, False)]
)
def test_the_limit_is_inclusive(chunked: bool, size: int, accepted: bool) -> None:
    body = b"x" * size
    environ = _environ(body, chunked=chunked)
    length = None if chunked else size
    if accepted:
        assert read_limited(input_stream(environ), length, LIMIT) == body
    else:
        with pytest.raises(BodyTooLarge):
            read_limited(input_stream(environ), length, LIMIT)


def test_a_lying_content_length_cannot_bring_more() -> None:
    """A stream longer than it said (a server that does not end it): only the limit is read."""
    stream = io.BytesIO(b"x" * (10 * LIMIT))
    with pytest.raises(BodyTooLarge):
        read_limited(stream, 10, LIMIT)
    assert stream.tell() <= LIMIT + 1


def test_a_body_shorter_than_its_length_is_incomplete() -> None:
    with pytest.raises(PayloadError) as info:
        read_limited(io.BytesIO(b"{}"), 10, LIMIT)
    assert info.value.reason == "body_incomplete"


class _Broken(io.RawIOBase):
    """A connection that fails mid-body (gunicorn raises `NoMoreData`, an `OSError`, or a
    parse error for bad chunked framing)."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc
        self.calls = 0

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls == 1:
            return b"{"
        raise self.exc


@pytest.mark.parametrize("exc", [OSError("reset"), ValueError("bad chunk size")])
def test_a_body_the_server_cannot_read_is_a_400_reason(exc: Exception) -> None:
    with pytest.raises(PayloadError) as info:
        read_limited(_Broken(exc), None, LIMIT)
    assert info.value.reason == "body_unreadable"
