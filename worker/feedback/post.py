"""Send a verdict to GitHub: a check run (GitHub App) or a commit status (token).

A check run with at most 50 annotations is one `POST .../check-runs`, created completed. With
more, it is created `in_progress` with the first 50, each further batch is appended with
`PATCH .../check-runs/{id}`, and the last PATCH completes it: a required check never turns
green or red before every annotation is in. A commit status is one `POST .../statuses/{sha}`.

Every request goes through `GitHubClient.request`, which retries 5xx, timeouts and resets a
bounded number of times and waits out short rate limits; whatever still fails comes back as a
`Posted` with the error, never as an exception: feedback never fails the caller.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.errors import CatalogSyncError
from worker.feedback.verdict import CHECK_NAME, Verdict, batches
from worker.github.client import GitHubClient, repo_path

log = logging.getLogger(__name__)

METHODS = ("checks", "status", "off")


@dataclass(frozen=True)
class Target:
    """Where a verdict goes: a commit of a repository, and the link shown beside it."""

    full_name: str
    sha: str
    details_url: str | None = None


@dataclass(frozen=True)
class Posted:
    """How sending went: `outcome` is `posted`, `failed` or `off` (not sent)."""

    method: str
    outcome: str
    check_run_id: int | None = None
    error: str | None = None
    reason: str | None = None


def details_url(template: str | None, full_name: str, sha: str) -> str | None:
    """`CATALOG_FEEDBACK_URL` with `{repository}` and `{sha}` filled in (None: no link)."""
    if not template:
        return None
    return template.replace("{repository}", full_name).replace("{sha}", sha)


def post_verdict(client: GitHubClient, method: str, target: Target, verdict: Verdict) -> Posted:
    """Send `verdict` as `method` (`checks`, `status` or `off`); never raises."""
    if method == "off":
        return Posted(method, "off")
    try:
        if method == "checks":
            run_id = _post_check_run(client, target, verdict)
            posted = Posted(method, "posted", check_run_id=run_id)
        else:
            _post_status(client, target, verdict)
            posted = Posted(method, "posted")
    except CatalogSyncError as exc:
        posted = Posted(method, "failed", error=exc.message, reason=exc.reason)
    except Exception as exc:  # noqa: BLE001 - an unexpected answer must not fail the caller
        posted = Posted(method, "failed", error=f"{type(exc).__name__}: {exc}", reason="error")
    event = "feedback.posted" if posted.outcome == "posted" else "feedback.failed"
    log.log(
        logging.INFO if posted.outcome == "posted" else logging.WARNING,
        event,
        extra={
            "repository": target.full_name,
            "sha": target.sha,
            "kind": method,
            "conclusion": str(verdict.conclusion),
            "annotations": len(verdict.annotations),
            "reason": posted.reason,
            "error": posted.error,
        },
    )
    return posted


def _post_check_run(client: GitHubClient, target: Target, verdict: Verdict) -> int:
    groups = batches([a.as_github() for a in verdict.annotations]) or [[]]
    base = repo_path(target.full_name) + "/check-runs"
    what = f"{target.full_name} (check run)"
    body: dict[str, Any] = {
        "name": CHECK_NAME,
        "head_sha": target.sha,
        "output": _output(verdict, groups[0]),
        **_status_fields(verdict, done=len(groups) == 1),
    }
    if target.details_url:
        body["details_url"] = target.details_url
    created = client.request("POST", base, what=what, json=body).json()
    run_id = int(created["id"])
    for index, group in enumerate(groups[1:], start=2):
        client.request(
            "PATCH",
            f"{base}/{run_id}",
            what=what,
            json={
                "output": _output(verdict, group),
                **_status_fields(verdict, done=index == len(groups)),
            },
        )
    return run_id


def _output(verdict: Verdict, annotations: list[dict[str, Any]]) -> dict[str, Any]:
    output: dict[str, Any] = {"title": verdict.title, "summary": verdict.summary}
    if annotations:
        output["annotations"] = annotations
    return output


def _status_fields(verdict: Verdict, *, done: bool) -> dict[str, Any]:
    if not done:
        return {"status": "in_progress"}
    completed = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"status": "completed", "conclusion": str(verdict.conclusion), "completed_at": completed}


def _post_status(client: GitHubClient, target: Target, verdict: Verdict) -> None:
    body: dict[str, Any] = {
        "state": verdict.state,
        "description": verdict.description,
        "context": CHECK_NAME,
    }
    if target.details_url:
        body["target_url"] = target.details_url
    client.request(
        "POST",
        f"{repo_path(target.full_name)}/statuses/{target.sha}",
        what=f"{target.full_name} (commit status)",
        json=body,
    )
