"""A fake GitHub: a real HTTP server over real git repositories built with the `git` command.

Why a fake and not mocks: the GitHub source, the worker and the end-to-end tests must see what
they would see from GitHub over the wire (shapes, ETags and 304s, rate-limit headers, 302 to a
tarball, truncated trees, signed webhook deliveries), and must survive its faults (5xx, rate
limits, dropped connections, latency), so the fake speaks HTTP and reads git objects for real.

    with FakeGitHub(tmp_path) as gh:
        repo = gh.create_repo("acme/catalog")
        repo.write("skills/pdf.md", "---\\nname: pdf\\n---\\n")
        repo.commit("add pdf")
        repo.push()
        # point GITHUB_API_URL at gh.api_url, GITHUB_TOKEN at gh.token

The modules, one job each: `fake` (state and lifecycle), `repo` (the git repositories),
`server` (HTTP, ETags, rate-limit headers, the log), `routes` (the one list of `routes_*`
modules, one per GitHub area), `webhooks` and `events` (signed `push` deliveries), `faults`,
`auth` (tokens, App JWTs), `ratelimit`, `shapes` (GitHub's JSON for repos and commits),
`checks` (the check runs and commit statuses posted to it), `pulls` and `pull_events` (forks,
pull requests and their signed `pull_request` deliveries).
"""

from tests.fakes.github.auth import App, rsa_key_pair
from tests.fakes.github.checks import CheckRun, CommitStatus
from tests.fakes.github.fake import DEFAULT_TOKEN, FakeGitHub
from tests.fakes.github.gitcmd import ZERO_SHA, GitError, blob_sha, git
from tests.fakes.github.pull_events import PullRequest
from tests.fakes.github.receiver import RecordingReceiver
from tests.fakes.github.repo import FakeRepo
from tests.fakes.github.requestlog import LoggedRequest
from tests.fakes.github.webhooks import Delivery, Hook

__all__ = [
    "DEFAULT_TOKEN",
    "ZERO_SHA",
    "App",
    "CheckRun",
    "CommitStatus",
    "Delivery",
    "FakeGitHub",
    "FakeRepo",
    "GitError",
    "Hook",
    "LoggedRequest",
    "PullRequest",
    "RecordingReceiver",
    "blob_sha",
    "git",
    "rsa_key_pair",
]
