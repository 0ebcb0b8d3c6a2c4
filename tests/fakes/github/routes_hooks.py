"""Webhook delivery routes: list a hook's deliveries, ask for one again; repository or App hook.

The App's hook (`/app/hook/...`) answers only to an App JWT, as GitHub's does.
"""

from __future__ import annotations

import re

from tests.fakes.github.api import (
    REPO,
    HttpError,
    Request,
    Response,
    json_response,
    next_link,
    route,
    visible_repo,
)
from tests.fakes.github.webhooks import Hook


def list_repo_deliveries(req: Request, m: re.Match[str]) -> Response:
    hook = _repo_hook(req, m)
    url = f"{req.fake.url}/repos/{m['owner']}/{m['name']}/hooks/{hook.hook_id}/deliveries"
    return _list(req, hook, url)


def redeliver_repo(req: Request, m: re.Match[str]) -> Response:
    return _redeliver(req, _repo_hook(req, m), int(m["id"]))


def list_app_deliveries(req: Request, m: re.Match[str]) -> Response:
    return _list(req, _app_hook(req), f"{req.fake.url}/app/hook/deliveries")


def redeliver_app(req: Request, m: re.Match[str]) -> Response:
    return _redeliver(req, _app_hook(req), int(m["id"]))


def _repo_hook(req: Request, m: re.Match[str]) -> Hook:
    visible_repo(req, m)
    hook = req.fake.hooks.get(int(m["hook"]))
    full_name = f"{m['owner']}/{m['name']}".lower()
    if hook is None or hook.repo is None or hook.repo.lower() != full_name:
        raise HttpError(404, "Not Found")
    return hook


def _app_hook(req: Request) -> Hook:
    req.fake.verify_app_jwt(req.headers.get("Authorization"))
    if req.fake.app_hook is None:
        raise HttpError(404, "Not Found")
    return req.fake.app_hook


def _list(req: Request, hook: Hook, url: str) -> Response:
    """Finished attempts, newest first, paged by a `cursor` (the last id seen) in `Link`."""
    per_page = min(100, max(1, int(req.param("per_page", "30"))))
    cursor = req.param("cursor", "")
    items = sorted(req.fake.deliveries_for(hook.hook_id), key=lambda d: d.id, reverse=True)
    items = [d for d in items if d.done.is_set()]
    if cursor:
        items = [d for d in items if d.id < int(cursor)]
    page = items[:per_page]
    headers = {}
    if len(items) > per_page:
        headers["Link"] = next_link(url, {"per_page": str(per_page), "cursor": str(page[-1].id)})
    return json_response([d.item() for d in page], headers=headers)


def _redeliver(req: Request, hook: Hook, delivery_id: int) -> Response:
    if not any(d.id == delivery_id for d in req.fake.deliveries_for(hook.hook_id)):
        raise HttpError(404, "Not Found")
    req.fake.redeliver(delivery_id)
    return Response(202, b"{}", etag=False)


_DELIVERIES = r"/hooks/(?P<hook>\d+)/deliveries"

ROUTES = [
    route("GET", REPO + _DELIVERIES, list_repo_deliveries),
    route("POST", REPO + _DELIVERIES + r"/(?P<id>\d+)/attempts", redeliver_repo),
    route("GET", r"/app/hook/deliveries", list_app_deliveries, auth="app"),
    route("POST", r"/app/hook/deliveries/(?P<id>\d+)/attempts", redeliver_app, auth="app"),
]
