"""Reading a request body without ever holding more than the configured limit."""

from __future__ import annotations

from typing import IO

from worker.errors import BodyTooLarge

__all__ = ["CHUNK", "BodyTooLarge", "read_limited"]

CHUNK = 64 * 1024


def read_limited(stream: IO[bytes], content_length: int | None, max_bytes: int) -> bytes:
    """The whole body, refused from `Content-Length` before reading, or while reading (chunked)."""
    if content_length is not None and content_length > max_bytes:
        raise BodyTooLarge
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(CHUNK, max_bytes + 1 - total))
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
