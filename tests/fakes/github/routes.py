"""Every API route the fake serves, in one list, one module per GitHub area.

A new area is a `routes_<area>.py` with its own `ROUTES`, added to `ROUTES` here. Only what
catalog-sync (worker, receiver, benchmarks) calls is served; anything else is a 404.
"""

from __future__ import annotations

from tests.fakes.github import (
    routes_app,
    routes_checks,
    routes_compare,
    routes_git,
    routes_hooks,
    routes_orgs,
    routes_pulls,
    routes_repos,
    routes_tarball,
)
from tests.fakes.github.api import HttpError, Request, Response, Route

ROUTES: list[Route] = [
    *routes_repos.ROUTES,
    *routes_git.ROUTES,
    *routes_tarball.ROUTES,
    *routes_hooks.ROUTES,
    *routes_app.ROUTES,
    *routes_checks.ROUTES,
    *routes_compare.ROUTES,
    *routes_pulls.ROUTES,
    *routes_orgs.ROUTES,
]

RATE_LIMITED = (
    "API rate limit exceeded for user. (But here's the good news: "
    "Authenticated requests get a higher rate limit.)"
)


def dispatch(req: Request) -> Response:
    """The first route for the method and path; token routes check the token and rate first."""
    for r in ROUTES:
        m = r.pattern.match(req.path)
        if m and r.method == req.method:
            if r.auth == "token":
                req.login = req.fake.identity(req.headers.get("Authorization"))
                if req.fake.rate_exhausted():
                    raise HttpError(403, RATE_LIMITED)
            return r.handler(req, m)
    raise HttpError(404, "Not Found")
