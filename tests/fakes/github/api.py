"""What API routes are written in: a request, a response, an HTTP error, a route.

A route is a plain function `(Request, match) -> Response`; the server turns `HttpError` into
GitHub's error body, and adds ETags, rate-limit headers and faults around every answer.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tests.fakes.github.fake import FakeGitHub
    from tests.fakes.github.repo import FakeRepo

#: `/repos/{owner}/{name}`, the prefix of every repository route.
REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
DOCS = "https://docs.github.com/rest"
SHA_MEDIA = "application/vnd.github.sha"
RAW_MEDIA = "application/vnd.github.raw"


@dataclass
class Request:
    """One API request, as the routes see it (`login`: who the token acts as, None: anonymous)."""

    fake: FakeGitHub
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    login: str | None = None

    def param(self, name: str, default: str) -> str:
        return self.query.get(name, [default])[0]

    @property
    def accept(self) -> str:
        return (self.headers.get("Accept") or "").lower()


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None
    counted: bool = True  # against the rate limit
    etag: bool = True  # GETs get an ETag and may answer 304


class HttpError(Exception):
    """Answer `status` with GitHub's error body `{"message": ..., "documentation_url": ...}`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


Handler = Callable[[Request, re.Match[str]], Response]
#: "token": a known token (else 401) and rate limit left (else 403) before the handler runs;
#: "app": the handler verifies an App JWT itself; "link": a signed download link, no token.
Auth = Literal["token", "app", "link"]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: Auth = "token"


def route(method: str, pattern: str, handler: Handler, auth: Auth = "token") -> Route:
    """A route for the whole path `pattern` (a regex; named groups reach the handler)."""
    return Route(method, re.compile(pattern + "$"), handler, auth)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact JSON, as GitHub sends it."""
    return Response(status, json.dumps(obj, separators=(",", ":")).encode(), headers or {})


def error_response(err: HttpError) -> Response:
    """GitHub's error body; a 401 is not charged to the rate limit, and errors get no ETag."""
    body = {"message": err.message, "documentation_url": DOCS}
    if err.status == 422:
        body["status"] = "422"
    return Response(
        err.status, json.dumps(body).encode(), err.headers, counted=err.status != 401, etag=False
    )


def visible_repo(req: Request, m: re.Match[str]) -> FakeRepo:
    """The repository the path names; 404 if missing or private to others, as GitHub hides it."""
    repo = req.fake.repos.get(f"{m['owner']}/{m['name']}".lower())
    if repo is None or (repo.private_to is not None and req.login not in repo.private_to):
        raise HttpError(404, "Not Found")
    return repo


def next_link(url: str, params: dict[str, str]) -> str:
    """A `Link` header pointing at the next page."""
    return f'<{url}?{urllib.parse.urlencode(params)}>; rel="next"'
