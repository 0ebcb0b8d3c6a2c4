"""`FakeGitHub`: the fake's state and lifecycle, made of one part per job.

Tokens and the App (`Credentials`), the primary rate limit (`PrimaryRateLimit`), injected
faults (`FaultInjection`), the request log (`RequestLog`) and webhooks (`Webhooks`) each keep
their own state and lock; this class adds the repositories and starts and stops the servers.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from tests.fakes.github.auth import Credentials
from tests.fakes.github.checks import Reports
from tests.fakes.github.events import push_payload
from tests.fakes.github.faults import FaultInjection
from tests.fakes.github.gitcmd import ZERO_SHA
from tests.fakes.github.installation import InstallationEvents
from tests.fakes.github.listings import Listings
from tests.fakes.github.pulls import PullRequests
from tests.fakes.github.ratelimit import PrimaryRateLimit
from tests.fakes.github.repo import FakeRepo
from tests.fakes.github.requestlog import RequestLog
from tests.fakes.github.routes_tarball import DownloadLinks
from tests.fakes.github.server import serve
from tests.fakes.github.webhooks import Hook, Webhooks

DEFAULT_TOKEN = "ghp_fake_test_token_0123456789"


class FakeGitHub(
    Credentials,
    PrimaryRateLimit,
    FaultInjection,
    RequestLog,
    Webhooks,
    Reports,
    PullRequests,
    Listings,
    InstallationEvents,
):
    """GitHub's REST API (the part catalog-sync uses) and its webhooks, on 127.0.0.1."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        token: str = DEFAULT_TOKEN,
        login: str = "octocat",
        rate_limit: int = 5000,
        max_tree_entries: int = 100_000,
        latency: float = 0.0,
        allow_anonymous: bool = False,
    ) -> None:
        self._ids = itertools.count(1000)
        Credentials.__init__(self, token, login, allow_anonymous)
        PrimaryRateLimit.__init__(self, rate_limit)
        FaultInjection.__init__(self)
        RequestLog.__init__(self)
        Webhooks.__init__(self, self._ids)
        Reports.__init__(self)
        PullRequests.__init__(self)
        Listings.__init__(self)
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="fake-github-")) if root is None else root
        self.max_tree_entries = max_tree_entries
        self.latency = latency
        self.repos: dict[str, FakeRepo] = {}
        self.downloads = DownloadLinks()
        self._repos_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> FakeGitHub:
        self._server, self._thread = serve(self)
        self.start_sending()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.stop_sending()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeGitHub is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What `GITHUB_API_URL` should be set to."""
        return self.url

    # -- set-up
    def create_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        private_to: set[str] | None = None,
    ) -> FakeRepo:
        """A new empty repository; `private_to` logins only may see it (others get 404)."""
        with self._repos_lock:
            repo = FakeRepo(self, full_name, next(self._ids), self.root, default_branch, private_to)
            self.repos[full_name.lower()] = repo
            return repo

    def add_hook(
        self, full_name: str | None, url: str, secret: str | None, *, content_type: str = "json"
    ) -> Hook:
        """A repository webhook (or, with `full_name` None, the App's webhook)."""
        if full_name is not None:
            return self.new_hook(url, secret, content_type, full_name)
        assert self.app is not None, "register_app() before adding the App's hook"
        return self.new_hook(url, secret, content_type, None, self.app.installation_id)

    def on_push(self, repo: FakeRepo, ref: str, before: str, after: str) -> None:
        """After a push to `repo`: the `push` event to every hook that covers it, then
        `synchronize` for the open pull requests from that branch."""
        payload = push_payload(repo, ref, before, after, self.login)
        self.deliver(repo.full_name, repo.id, "push", payload)
        if after != ZERO_SHA:
            self.sync_pull_requests(repo, ref, after)
