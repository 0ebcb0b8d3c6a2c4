"""Body parsing (JSON and form-encoded, strict UTF-8) and the watch decision, on real payloads."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from settings import Settings
from tests.conftest import DATA
from webhook.payload import PayloadError, parse_body, push_event
from webhook.routing import ignore_reason

PAYLOADS = DATA / "github-payloads"
PUSHES = [
    *sorted((PAYLOADS / "octokit-webhooks" / "push").glob("*.json")),
    PAYLOADS / "probot" / "push.json",
]
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _settings(repos: str) -> Settings:
    return Settings(catalog_repos=repos, github_webhook_secret="s")


@pytest.mark.parametrize("path", PUSHES, ids=lambda p: p.name)
def test_every_recorded_push_parses_as_json_and_as_form(path: Path) -> None:
    raw = path.read_bytes()
    as_json = push_event(parse_body(raw, JSON))
    form = urlencode({"payload": raw.decode()}).encode()
    assert push_event(parse_body(form, f"{FORM}; charset=utf-8")) == as_json
    data = json.loads(raw)
    assert as_json.ref == data["ref"]
    assert as_json.after == data["after"]
    assert as_json.repository_full_name == data["repository"]["full_name"]


def test_decisions_on_the_recorded_payloads() -> None:
    hello = _settings("Codertocat/Hello-World")
    events = {p.name: push_event(parse_body(p.read_bytes(), JSON)) for p in PUSHES}
    assert ignore_reason(events["payload.json"], hello) == "tag"
    assert ignore_reason(events["with-new-branch.payload.json"], hello) is None
    assert ignore_reason(events["with-no-username-committer.payload.json"], hello) is None
    assert ignore_reason(events["push.json"], hello) == "unwatched_repository"
    probot = events["push.json"]
    assert ignore_reason(probot, _settings("bkeepers-inc/test")) == "unwatched_branch"
    assert ignore_reason(probot, _settings("BKEEPERS-INC/Test@bkeepers-patch-3")) is None
    assert ignore_reason(events["with-new-branch.payload.json"], _settings("a/b")) == (
        "unwatched_repository"
    )


def test_a_branch_deletion_is_ignored_never_applied() -> None:
    raw = json.loads((PAYLOADS / "probot" / "push.json").read_text())
    raw.update(deleted=True, after="0" * 40)
    event = push_event(parse_body(json.dumps(raw).encode(), JSON))
    settings = _settings("bkeepers-inc/test@bkeepers-patch-3")
    assert ignore_reason(event, settings) == "branch_deleted"


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"", JSON, "empty_body"),
        (b'{"ref": "refs/heads/main"', JSON, "invalid_json"),
        (b"[1, 2]", JSON, "not_an_object"),
        (b'"text"', JSON, "not_an_object"),
        (b'{"a": NaN}', JSON, "invalid_json"),
        (b"\xff\xfe{}", JSON, "not_utf8"),
        ('{"a": "é"}'.encode("latin-1"), JSON, "not_utf8"),
        (b"\xef\xbb\xbf{}", JSON, "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, JSON, "invalid_json"),
        (b"payload=%7B%7D&payload=%7B%7D", FORM, "form_without_payload"),
        (b"other=1", FORM, "form_without_payload"),
        (b"payload=%ff", FORM, "invalid_form"),
        (b"payload", FORM, "invalid_form"),
        (b"payload=%7B", FORM, "invalid_json"),
        (b'{"ref": 1}', None, "invalid_repository"),
    ],
)
def test_malformed_bodies_raise_payload_error(
    body: bytes, content_type: str | None, reason: str
) -> None:
    with pytest.raises(PayloadError) as info:
        push_event(parse_body(body, content_type))
    assert info.value.reason == reason


def _push(**changes: object) -> dict[str, object]:
    data = json.loads((PAYLOADS / "probot" / "push.json").read_text())
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"ref": None}, "invalid_ref"),
        ({"ref": "x" * 300}, "invalid_ref"),
        ({"after": "abc"}, "invalid_after"),
        ({"before": 12}, "invalid_before"),
        ({"after": "A" * 40}, "invalid_after"),
        ({"deleted": "false"}, "invalid_deleted"),
        ({"forced": None}, "invalid_forced"),
        ({"repository": {"full_name": 5}}, "invalid_full_name"),
        ({"repository": {"full_name": "a/b", "default_branch": 3}}, "invalid_default_branch"),
        ({"repository": []}, "invalid_repository"),
        # Strings no database stores as they are, and refs git would refuse (issue 13).
        ({"ref": "refs/heads/\ud800"}, "invalid_ref"),
        ({"ref": "refs/heads/a\x00b"}, "invalid_ref"),
        ({"ref": "refs/heads/a..b"}, "invalid_ref"),
        ({"ref": ["refs/heads/main"]}, "invalid_ref"),
        ({"repository": {"full_name": "a/\udfff"}}, "invalid_full_name"),
        ({"repository": {"full_name": "a/b\x00"}}, "invalid_full_name"),
        (
            {"repository": {"full_name": "a/b", "default_branch": "\ud800"}},
            "invalid_default_branch",
        ),
        ({"repository": {"full_name": "a/b", "default_branch": "x\x00"}}, "invalid_default_branch"),
        (
            {"repository": {"full_name": "a/b", "default_branch": "b" * 245}},
            "invalid_default_branch",
        ),
        ({"repository": {"full_name": "a/b", "default_branch": ""}}, "invalid_default_branch"),
    ],
)
def test_fields_we_use_are_validated(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        push_event(_push(**changes))
    assert info.value.reason == reason


def test_unknown_fields_are_ignored() -> None:
    event = push_event(_push(extra={"nested": [1, 2]}, pusher=None))
    assert event.branch == "bkeepers-patch-3"


def test_a_surrogate_escaped_in_json_is_refused_whichever_the_encoding() -> None:
    raw = json.dumps(_push(ref="refs/heads/\ud800"))  # ASCII: `\\ud800` escapes
    assert "\\ud800" in raw
    for body, content_type in ((raw.encode(), JSON), (urlencode({"payload": raw}).encode(), FORM)):
        with pytest.raises(PayloadError) as info:
            push_event(parse_body(body, content_type))
        assert info.value.reason == "invalid_ref"


def test_the_longest_storable_ref_and_default_branch_are_accepted() -> None:
    branch = "b" * (255 - len("refs/heads/"))
    event = push_event(
        _push(ref=f"refs/heads/{branch}", repository={"full_name": "a/b", "default_branch": branch})
    )
    assert (event.branch, event.default_branch) == (branch, branch)
