"""Repository listings: an organisation's, a user's, and the App installation's; paginated.

Pages follow GitHub's rules: `per_page` (default 30, at most 100) and `page`, with a `Link`
header naming the next and last pages; the server adds the ETag, so an unchanged page is a
free 304 for `If-None-Match`.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from tests.fakes.github.api import HttpError, Request, Response, json_response, route


def _visible(req: Request, item: dict[str, Any]) -> bool:
    private_to = item["_private_to"]
    return private_to is None or req.login in private_to


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


def _page(req: Request, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """The requested page of `items` and its `Link` header (None when it all fits)."""
    try:
        per_page = max(1, min(100, int(req.param("per_page", "30"))))
        page = max(1, int(req.param("page", "1")))
    except ValueError as exc:
        raise HttpError(422, "Invalid pagination parameter") from exc
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    if last == 1:
        return chunk, None
    base = f"{req.fake.url}{req.path}"
    keep = {k: v[0] for k, v in req.query.items() if k not in ("page", "per_page")}

    def link(n: int, rel: str) -> str:
        params = urllib.parse.urlencode({**keep, "per_page": per_page, "page": n})
        return f'<{base}?{params}>; rel="{rel}"'

    rels = []
    if page > 1:
        rels += [link(page - 1, "prev"), link(1, "first")]
    if page < last:
        rels += [link(page + 1, "next"), link(last, "last")]
    return chunk, ", ".join(rels)


def _answer(body: Any, link: str | None) -> Response:
    return json_response(body, headers={"Link": link} if link else None)


def list_org_repos(req: Request, m: re.Match[str]) -> Response:
    org = m["org"].lower()
    if org not in req.fake.orgs:
        raise HttpError(404, "Not Found")
    items = [
        _public(i)
        for i in req.fake.listed()
        if i["full_name"].split("/")[0].lower() == org and _visible(req, i)
    ]
    return _answer(*_page(req, items))


def list_user_repos(req: Request, m: re.Match[str]) -> Response:
    """A user's public repositories (what GitHub lists here, whoever asks)."""
    user = m["user"].lower()
    owned = [i for i in req.fake.listed() if i["full_name"].split("/")[0].lower() == user]
    if user in req.fake.orgs or (not owned and user != (req.fake.login or "").lower()):
        raise HttpError(404, "Not Found")
    items = [_public(i) for i in owned if not i["private"]]
    return _answer(*_page(req, items))


def list_installation_repos(req: Request, m: re.Match[str]) -> Response:
    if not (req.login or "").startswith("app-installation-"):
        raise HttpError(403, "You must authenticate with an installation access token")
    items = [_public(i) for i in req.fake.listed() if req.fake.is_installed(i["full_name"])]
    chunk, link = _page(req, items)
    selection = "all" if req.fake.installed is None else "selected"
    body = {"total_count": len(items), "repositories": chunk, "repository_selection": selection}
    return _answer(body, link)


ROUTES = [
    route("GET", r"/orgs/(?P<org>[^/]+)/repos", list_org_repos),
    route("GET", r"/users/(?P<user>[^/]+)/repos", list_user_repos),
    route("GET", r"/installation/repositories", list_installation_repos),
]
