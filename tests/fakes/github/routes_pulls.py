"""`GET /repos/{owner}/{repo}/pulls/{number}`: a pull request, open or closed."""

from __future__ import annotations

import re

from tests.fakes.github.api import (
    REPO,
    HttpError,
    Request,
    Response,
    json_response,
    route,
    visible_repo,
)
from tests.fakes.github.pull_events import pull_request_json


def get_pull(req: Request, m: re.Match[str]) -> Response:
    repo = visible_repo(req, m)
    pr = req.fake.pull(repo.full_name, int(m["number"]))
    if pr is None:
        raise HttpError(404, "Not Found")
    return json_response(pull_request_json(pr, req.fake.login))


ROUTES = [route("GET", REPO + r"/pulls/(?P<number>\d+)", get_pull)]
