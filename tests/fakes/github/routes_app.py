"""GitHub App routes: an installation access token, minted for a valid App JWT."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from tests.fakes.github.api import HttpError, Request, Response, route


def create_installation_token(req: Request, m: re.Match[str]) -> Response:
    """A new `ghs_` token acting as `app-installation-{id}`, expiring after the App's TTL."""
    app = req.fake.verify_app_jwt(req.headers.get("Authorization"))
    if int(m["id"]) != app.installation_id:
        raise HttpError(404, "Not Found")
    token = f"ghs_{uuid.uuid4().hex}"
    req.fake.add_token(token, f"app-installation-{app.installation_id}", ttl=app.token_ttl)
    app.tokens_issued += 1
    expires = datetime.now(UTC) + timedelta(seconds=app.token_ttl)
    body = {
        "token": token,
        "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "permissions": {"contents": "read", "metadata": "read"},
        "repository_selection": "all",
    }
    return Response(201, json.dumps(body).encode(), counted=False, etag=False)


ROUTES = [
    route(
        "POST",
        r"/app/installations/(?P<id>\d+)/access_tokens",
        create_installation_token,
        auth="app",
    ),
]
