"""`pull_request` deliveries: which ones start a validation, and how they are stored and queued.

Pure parsing and filtering (like `webhook.payload` and `webhook.routing` for pushes): only
the fields used are validated, any failure is a `PayloadError` (a 400). A delivery is stored
like a push (deduplicated by `X-GitHub-Delivery`), with `ref` = GitHub's `refs/pull/N/head`,
`before_sha` the base and `after_sha` the head, and queues the validation task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from settings import Settings
from webhook.payload import MAX_REF_CHARS, PayloadError
from worker.inbox.publish import Publisher
from worker.inbox.store import DeliveryIn
from worker.pulls.refs import pull_ref
from worker.tasknames import PULL_REQUEST_TASK

#: The actions that can change what a pull request would merge (or make it ready to merge).
VALIDATED_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
MAX_NUMBER = 2**31 - 1


@dataclass(frozen=True)
class PullRequestEvent:
    """The parts of a `pull_request` delivery the receiver uses."""

    action: str
    number: int
    repository_full_name: str
    default_branch: str | None
    base_ref: str
    base_sha: str
    head_sha: str


def _dict(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"invalid_{key}")
    return value


def _text(data: dict[str, Any], key: str, reason: str, max_chars: int = 255) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > max_chars:
        raise PayloadError(reason)
    return value


def _sha(side: dict[str, Any], reason: str) -> str:
    value = side.get("sha")
    if not isinstance(value, str) or len(value) != 40 or value.strip("0123456789abcdef"):
        raise PayloadError(reason)
    return value


def pull_request_event(data: dict[str, Any]) -> PullRequestEvent:
    """Validate the fields used; `PayloadError` names the first bad one."""
    repo = _dict(data, "repository")
    pull = _dict(data, "pull_request")
    number = data.get("number", pull.get("number"))
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number <= MAX_NUMBER:
        raise PayloadError("invalid_number")
    base, head = _dict(pull, "base"), _dict(pull, "head")
    default_branch = repo.get("default_branch")
    if default_branch is not None and not isinstance(default_branch, str):
        raise PayloadError("invalid_default_branch")
    return PullRequestEvent(
        action=_text(data, "action", "invalid_action", 64),
        number=number,
        repository_full_name=_text(repo, "full_name", "invalid_full_name", 200),
        default_branch=default_branch,
        base_ref=_text(base, "ref", "invalid_base_ref", MAX_REF_CHARS),
        base_sha=_sha(base, "invalid_base_sha"),
        head_sha=_sha(head, "invalid_head_sha"),
    )


def ignore_reason(event: PullRequestEvent, settings: Settings) -> str | None:
    """None when the pull request targets a watched repository's watched branch."""
    spec = settings.repo_spec(event.repository_full_name)
    if spec is None:
        return "unwatched_repository"
    if event.action not in VALIDATED_ACTIONS:
        return "unhandled_action"
    if event.base_ref != (spec.branch or event.default_branch):
        return "unwatched_branch"
    return None


def delivery(
    event: PullRequestEvent, delivery_id: str, hook_id: int | None, settings: Settings
) -> DeliveryIn:
    """The inbox row of a watched pull request's delivery."""
    spec = settings.repo_spec(event.repository_full_name)
    assert spec is not None
    return DeliveryIn(
        delivery_id=delivery_id,
        event="pull_request",
        repository_full_name=spec.full_name,
        ref=pull_ref(event.number),
        before_sha=event.base_sha,
        after_sha=event.head_sha,
        hook_id=hook_id,
        branch=spec.branch or event.default_branch,
    )


def enqueue_validation(publisher: Publisher, row: DeliveryIn, number: int) -> None:
    """Queue the validation of pull request `number` (`BrokerUnavailableError` if down)."""
    kwargs = {
        "full_name": row.repository_full_name,
        "number": number,
        "delivery_id": row.delivery_id,
    }
    publisher.send(PULL_REQUEST_TASK, kwargs)
