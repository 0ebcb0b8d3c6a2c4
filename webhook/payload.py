"""Webhook bodies: pure parsing of JSON or form-encoded (`payload=`) bodies into what we use.

Only the fields the receiver reads are validated (GitHub adds fields over time); anything else
in the body is ignored. Every string it reads must be storable (`webhook.storable`), so nothing
that a database refuses gets past here. Every failure is a `PayloadError` (a 400), never an
exception that would become a 500.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from webhook.storable import is_git_ref, is_storable
from worker.errors import PayloadError

__all__ = ["MAX_REF_CHARS", "ZERO_SHA", "PayloadError", "PushEvent", "parse_body", "push_event"]

_SHA = re.compile(r"[0-9a-f]{40}")
ZERO_SHA = "0" * 40
MAX_REF_CHARS = 255
BRANCH_PREFIX = "refs/heads/"


@dataclass(frozen=True)
class PushEvent:
    """The parts of a `push` delivery the receiver uses."""

    ref: str
    before: str
    after: str
    created: bool
    deleted: bool
    forced: bool
    repository_full_name: str
    default_branch: str | None

    @property
    def branch(self) -> str | None:
        """The branch name for `refs/heads/...` refs; None for tags and other refs."""
        prefix = "refs/heads/"
        return self.ref[len(prefix) :] if self.ref.startswith(prefix) else None

    @property
    def is_tag(self) -> bool:
        return self.ref.startswith("refs/tags/")


def _reject_constant(name: str) -> Any:
    raise PayloadError("invalid_json")


def _load_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise PayloadError("invalid_json") from exc
    if not isinstance(data, dict):
        raise PayloadError("not_an_object")
    return data


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise PayloadError("not_utf8") from exc


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The JSON object of a delivery, from `application/json` or a form's `payload=` field."""
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if not body:
        raise PayloadError("empty_body")
    if mimetype == "application/x-www-form-urlencoded":
        text = _decode(body)
        try:
            fields = parse_qs(text, strict_parsing=True, encoding="utf-8", errors="strict")
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError("invalid_form") from exc
        values = fields.get("payload", [])
        if len(values) != 1:
            raise PayloadError("form_without_payload")
        return _load_json(values[0])
    return _load_json(_decode(body))


def _str(data: dict[str, Any], key: str, *, max_chars: int = 1000) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > max_chars or not is_storable(value):
        raise PayloadError(f"invalid_{key}")
    return value


def _sha(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not _SHA.fullmatch(value):
        raise PayloadError(f"invalid_{key}")
    return value


def _bool(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise PayloadError(f"invalid_{key}")
    return value


def _ref(data: dict[str, Any]) -> str:
    value = _str(data, "ref", max_chars=MAX_REF_CHARS)
    if not is_git_ref(value):
        raise PayloadError("invalid_ref")
    return value


def _default_branch(repo: dict[str, Any]) -> str | None:
    """The repository's default branch, if named: a branch name a ref could carry."""
    value = repo.get("default_branch")
    if value is None:
        return None
    ref = BRANCH_PREFIX + value if isinstance(value, str) else ""
    if len(ref) > MAX_REF_CHARS or not is_git_ref(ref):
        raise PayloadError("invalid_default_branch")
    return str(value)


def push_event(data: dict[str, Any]) -> PushEvent:
    """Validate the push fields we use; `PayloadError` names the first bad one."""
    repo = data.get("repository")
    if not isinstance(repo, dict):
        raise PayloadError("invalid_repository")
    return PushEvent(
        ref=_ref(data),
        before=_sha(data, "before"),
        after=_sha(data, "after"),
        created=_bool(data, "created"),
        deleted=_bool(data, "deleted"),
        forced=_bool(data, "forced"),
        repository_full_name=_str(repo, "full_name", max_chars=200),
        default_branch=_default_branch(repo),
    )
