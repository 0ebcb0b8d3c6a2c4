"""JSON log lines, and secrets redacted wherever they hide in a record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from worker.observability.logs import REDACTED, configure_logging

TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SIGNATURE = "sha256=" + "ab" * 32


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging(secrets=["hunter2-webhook-secret"], stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def _docs(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line(lines: io.StringIO) -> None:
    log = logging.getLogger("catalog.test")
    log.info("webhook.queued", extra={"delivery_id": "d-1", "repository": "octo/cat"})
    log.warning("multi\nline %s", "arg")
    docs = _docs(lines)
    assert docs[0]["event"] == "webhook.queued"
    assert docs[0]["delivery_id"] == "d-1" and docs[0]["repository"] == "octo/cat"
    assert docs[0]["level"] == "info" and "ts" in docs[0]
    assert docs[1]["event"] == "multi\nline arg"


def test_secrets_are_redacted_everywhere(lines: io.StringIO) -> None:
    log = logging.getLogger("catalog.test")
    log.info("token %s and sig %s", TOKEN, SIGNATURE)
    log.info("configured secret hunter2-webhook-secret leaked")
    log.info(
        "extras",
        extra={
            "github_token": "anything",
            "headers": {"Authorization": "token abc", "X-Hub-Signature-256": SIGNATURE},
            "url": "redis://:p4ssw0rd@redis:6379/0",
            "note": "Bearer " + "x" * 40,
        },
    )
    try:
        raise RuntimeError(f"request failed with {TOKEN}")
    except RuntimeError:
        log.exception("boom")
    text = lines.getvalue()
    for secret in (TOKEN, SIGNATURE, "hunter2-webhook-secret", "p4ssw0rd", "x" * 40, "abc"):
        assert secret not in text
    docs = _docs(lines)
    assert docs[2]["github_token"] == REDACTED
    assert docs[2]["url"] == f"redis://{REDACTED}@redis:6379/0"
    assert "RuntimeError" in str(docs[3]["exc"])


def test_git_shas_are_kept(lines: io.StringIO) -> None:
    sha = "738a951dba49dfec487000ef85ae80291d7ab32a"
    logging.getLogger("catalog.test").info("synced", extra={"after_sha": sha})
    assert _docs(lines)[0]["after_sha"] == sha
