"""Reading a request body without ever holding more than the configured limit."""

from __future__ import annotations

from typing import IO, Any

from werkzeug.wsgi import get_input_stream

from worker.errors import BodyTooLarge, PayloadError

__all__ = ["CHUNK", "BodyTooLarge", "read_limited"]

CHUNK = 64 * 1024


def input_stream(environ: dict[str, Any]) -> IO[bytes]:
    """The body as the server frames it, limited by `read_limited` alone.

    Not Flask's `request.stream`: under `MAX_CONTENT_LENGTH` that refuses the read after
    exactly the limit, which is how a reader learns a chunked body (or any body under gunicorn)
    has ended, so a body of exactly the limit got 413.
    """
    return get_input_stream(environ, max_content_length=None)


def read_limited(stream: IO[bytes], content_length: int | None, max_bytes: int) -> bytes:
    """The whole body, refused from `Content-Length` before reading, or while reading (chunked).

    The limit is inclusive: `max_bytes` bytes are accepted, one more is `BodyTooLarge`. A body
    shorter than its `Content-Length` is a `PayloadError("body_incomplete")`, one the server
    could not read (a reset, bad chunked framing, the server's read deadline) `"body_unreadable"`.
    """
    if content_length is not None and content_length > max_bytes:
        raise BodyTooLarge
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = stream.read(min(CHUNK, max_bytes + 1 - total))
        except Exception as exc:  # a reset, a bad chunk, the read deadline
            raise PayloadError("body_unreadable") from exc
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
    if content_length is not None and total < content_length:
        raise PayloadError("body_incomplete")
    return b"".join(chunks)
