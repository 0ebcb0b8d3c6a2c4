"""Check runs and commit statuses: create and update, validated as GitHub validates them.

GitHub's rules kept here (REST docs, "Create a check run", "Update a check run", "Create a
commit status"): only a GitHub App (an installation token) may write check runs, others get
403; at most 50 annotations per request; an annotation needs `path`, `start_line`, `end_line`,
`annotation_level` (notice, warning or failure) and `message`, and may have columns only on
one line; `completed` needs a `conclusion`; `output` needs `title` and `summary`. A commit
status `state` is error, failure, pending or success; its description at most 140 characters.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.github.api import (
    REPO,
    HttpError,
    Request,
    Response,
    json_response,
    route,
    visible_repo,
)
from tests.fakes.github.checks import CheckRun, CommitStatus
from tests.fakes.github.repo import FakeRepo

NOT_AN_APP = "You must authenticate via a GitHub App."
STATUSES = ("queued", "in_progress", "completed")
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
LEVELS = ("notice", "warning", "failure")
STATES = ("error", "failure", "pending", "success")
MAX_ANNOTATIONS = 50
MAX_DESCRIPTION = 140


def json_body(req: Request) -> dict[str, Any]:
    try:
        body = json.loads(req.body or b"{}")
    except ValueError:
        raise HttpError(400, "Problems parsing JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "Problems parsing JSON")
    return body


def _invalid(message: str) -> HttpError:
    return HttpError(422, f"Invalid request.\n\n{message}")


def _check_app(req: Request) -> None:
    if not (req.login or "").startswith("app-installation-"):
        raise HttpError(403, NOT_AN_APP)


def _check_output(output: Any) -> None:
    if output is None:
        return
    if not isinstance(output, dict) or not output.get("title") or "summary" not in output:
        raise _invalid('"title" and "summary" are required keys of "output".')
    annotations = output.get("annotations", [])
    if len(annotations) > MAX_ANNOTATIONS:
        raise _invalid(f"Only {MAX_ANNOTATIONS} annotations are allowed per request.")
    for a in annotations:
        required = ("path", "start_line", "end_line", "annotation_level", "message")
        missing = [k for k in required if k not in a]
        if missing:
            raise _invalid(f"{missing[0]!r} wasn't supplied for an annotation.")
        if a["annotation_level"] not in LEVELS:
            raise _invalid(f"{a['annotation_level']!r} is not a valid annotation_level.")
        has_columns = "start_column" in a or "end_column" in a
        if has_columns and a["start_line"] != a["end_line"]:
            raise _invalid("start_column and end_column are only allowed on a single line.")


def _check_state(body: dict[str, Any]) -> None:
    status = body.get("status", "queued")
    if status not in STATUSES:
        raise _invalid(f"{status!r} is not a valid status.")
    conclusion = body.get("conclusion")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        raise _invalid(f"{conclusion!r} is not a valid conclusion.")
    if status == "completed" and conclusion is None:
        raise _invalid("conclusion must be set when the status is completed.")


def check_run_json(repo: FakeRepo, run: CheckRun) -> dict[str, Any]:
    """A check run as the REST API returns it."""
    api = repo.api_url
    return {
        "id": run.id,
        "node_id": f"CR_{run.id}",
        "head_sha": run.head_sha,
        "external_id": "",
        "url": f"{api}/check-runs/{run.id}",
        "html_url": f"https://github.com/{repo.full_name}/runs/{run.id}",
        "details_url": run.details_url,
        "status": run.status,
        "conclusion": run.conclusion,
        "name": run.name,
        "output": {
            "title": run.title,
            "summary": run.summary,
            "text": None,
            "annotations_count": len(run.annotations),
            "annotations_url": f"{api}/check-runs/{run.id}/annotations",
        },
        "check_suite": {"id": 5},
        "app": {"id": int(repo.fake.app.app_id) if repo.fake.app else None, "slug": "fake-app"},
        "pull_requests": [],
    }


def create_check_run(req: Request, m: re.Match[str]) -> Response:
    repo = visible_repo(req, m)
    _check_app(req)
    body = json_body(req)
    if not isinstance(body.get("name"), str) or not body["name"]:
        raise _invalid('"name" wasn\'t supplied.')
    sha = body.get("head_sha")
    if not isinstance(sha, str) or repo.object_type(sha) != "commit" or len(sha) != 40:
        raise _invalid(f"No commit found for SHA: {sha}")
    _check_state(body)
    _check_output(body.get("output"))
    run = req.fake.new_check_run(repo.full_name, body)
    return json_response(check_run_json(repo, run), 201)


def update_check_run(req: Request, m: re.Match[str]) -> Response:
    repo = visible_repo(req, m)
    _check_app(req)
    run = req.fake.check_runs.get(int(m["id"]))
    if run is None or run.repo.lower() != repo.full_name.lower():
        raise HttpError(404, "Not Found")
    body = json_body(req)
    _check_state({"status": run.status, **body} if "status" not in body else body)
    _check_output(body.get("output"))
    return json_response(check_run_json(repo, req.fake.update_check_run(run, body)))


def status_json(repo: FakeRepo, status: CommitStatus, login: str | None) -> dict[str, Any]:
    return {
        "url": f"{repo.api_url}/statuses/{status.sha}",
        "avatar_url": None,
        "id": status.id,
        "node_id": f"SC_{status.id}",
        "state": status.state,
        "description": status.description,
        "target_url": status.target_url,
        "context": status.context,
        "created_at": "2026-12-01T00:00:00Z",
        "updated_at": "2026-12-01T00:00:00Z",
        "creator": {"login": login, "id": 2, "type": "User"},
    }


def create_status(req: Request, m: re.Match[str]) -> Response:
    repo = visible_repo(req, m)
    body = json_body(req)
    if body.get("state") not in STATES:
        raise _invalid(f"State is not included in the list ({body.get('state')!r}).")
    description = body.get("description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise _invalid("description is too long (maximum is 140 characters)")
    if len(m["sha"]) != 40 or repo.object_type(m["sha"]) != "commit":
        raise _invalid(f"No commit found for SHA: {m['sha']}")
    status = req.fake.new_status(repo.full_name, m["sha"], body)
    return json_response(status_json(repo, status, req.login), 201)


ROUTES = [
    route("POST", REPO + r"/check-runs", create_check_run),
    route("PATCH", REPO + r"/check-runs/(?P<id>\d+)", update_check_run),
    route("POST", REPO + r"/statuses/(?P<sha>[^/]+)", create_status),
]
