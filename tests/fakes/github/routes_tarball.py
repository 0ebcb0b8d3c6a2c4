"""The tarball route: a 302 to a short-lived codeload link, which streams `git archive`.

GitHub answers `GET /repos/{o}/{n}/tarball/{ref}` with a redirect to codeload.github.com; the
download needs no token (the link is signed) and does not count against the rate limit.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

from tests.fakes.github.api import REPO, HttpError, Request, Response, route, visible_repo
from tests.fakes.github.gitcmd import GIT_ENV

LINK_TTL = 300.0
CHUNK = 64 * 1024


class DownloadLinks:
    """The download tokens handed out in redirects, each valid for `LINK_TTL` seconds."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self._expiry[token] = time.time() + LINK_TTL
        return token

    def valid(self, token: str) -> bool:
        with self._lock:
            return self._expiry.get(token, 0) >= time.time()


def get_tarball(req: Request, m: re.Match[str]) -> Response:
    repo = visible_repo(req, m)
    sha = repo.resolve_ref(m["ref"] or "HEAD")
    if sha is None:
        raise HttpError(404, "Not Found")
    token = req.fake.downloads.issue()
    location = f"{req.fake.url}/_codeload/{repo.full_name}/legacy.tar.gz/{sha}?token={token}"
    return Response(302, b"", {"Location": location, "Content-Type": "text/html"}, etag=False)


def get_codeload(req: Request, m: re.Match[str]) -> Response:
    """The archive, streamed as `git archive` writes it, under GitHub's `owner-name-sha7/`."""
    if not req.fake.downloads.valid(req.param("token", "")):
        raise HttpError(404, "Not Found")
    repo = req.fake.repos.get(f"{m['owner']}/{m['name']}".lower())
    if repo is None:
        raise HttpError(404, "Not Found")
    sha = m["sha"]
    prefix = f"{repo.owner}-{repo.name}-{sha[:7]}/"
    proc = subprocess.Popen(
        ["git", "archive", "--format=tar.gz", f"--prefix={prefix}", sha],
        cwd=repo.bare,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **GIT_ENV},
    )
    return Response(
        200,
        headers={
            "Content-Type": "application/x-gzip",
            "Content-Disposition": f"attachment; filename={prefix.rstrip('/')}.tar.gz",
        },
        stream=_chunks(proc),
        counted=False,
        etag=False,
    )


def _chunks(proc: subprocess.Popen[bytes]) -> Iterator[bytes]:
    """The process's output; stops it when the client goes away mid-download."""
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read(CHUNK):
            yield chunk
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


#: The codeload path is not under the API (the server neither counts it nor adds rate headers).
CODELOAD_PREFIX = "/_codeload"

ROUTES = [
    route("GET", REPO + r"/tarball(?:/(?P<ref>.+))?", get_tarball),
    route(
        "GET",
        r"/_codeload/(?P<owner>[^/]+)/(?P<name>[^/]+)/legacy\.tar\.gz/(?P<sha>[0-9a-f]{40})",
        get_codeload,
        auth="link",
    ),
]
