"""Pull requests and forks on the fake (a part of `FakeGitHub`).

A pull request's head commits are fetched into the base repository as `refs/pull/N/head`, as
GitHub does, so compare and the base repository see a fork's commits too. Opening one sends
`opened`; a push to its head branch sends `synchronize` (see `FakeGitHub.on_push`).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import TYPE_CHECKING

from tests.fakes.github.gitcmd import git
from tests.fakes.github.pull_events import PullRequest, pull_request_payload
from tests.fakes.github.webhooks import Hook, signed_request

if TYPE_CHECKING:
    from tests.fakes.github.repo import FakeRepo


class PullRequests:
    """Open, update, close and reopen pull requests; fork repositories."""

    def __init__(self) -> None:
        self.pulls: list[PullRequest] = []
        self._pull_ids = itertools.count(9_000_000)
        self._pulls_lock = threading.Lock()

    #: The login the fake's events name as their sender (set by `FakeGitHub`).
    login: str

    # -- forks
    def fork(self, repo: FakeRepo, owner: str, *, private_to: set[str] | None = None) -> FakeRepo:
        """`owner/name`, a copy of `repo`'s branches; its work tree is on the default branch."""
        fork = self.create_repo(
            f"{owner}/{repo.name}", default_branch=repo.default_branch, private_to=private_to
        )
        git(fork.bare, "fetch", "-q", str(repo.bare), "+refs/heads/*:refs/heads/*")
        git(fork.work, "fetch", "-q", "origin")
        git(fork.work, "checkout", "-q", "-B", repo.default_branch, f"origin/{repo.default_branch}")
        return fork

    # -- pull requests
    def open_pull_request(
        self,
        base: FakeRepo,
        head_ref: str,
        *,
        head: FakeRepo | None = None,
        base_ref: str | None = None,
        title: str = "Change the catalog",
        draft: bool = False,
    ) -> PullRequest:
        """A pull request of `head:head_ref` (default: a branch of `base`); sends `opened`."""
        source = head or base
        sha = source.ref(head_ref)
        if sha is None:
            raise ValueError(f"{source.full_name} has no branch {head_ref!r} on the fake")
        with self._pulls_lock:
            number = 1 + sum(1 for p in self.pulls if p.base_repo is base)
            pr = PullRequest(
                id=next(self._pull_ids),
                number=number,
                base_repo=base,
                base_ref=base_ref or base.default_branch,
                head_repo=source,
                head_ref=head_ref,
                head_sha=sha,
                title=title,
                draft=draft,
                created_at=time.time(),
            )
            self.pulls.append(pr)
        self._link_head(pr)
        self.send_pull_request_event(pr, "opened")
        return pr

    def pull(self, full_name: str, number: int) -> PullRequest | None:
        with self._pulls_lock:
            for pr in self.pulls:
                if pr.base_repo.full_name.lower() == full_name.lower() and pr.number == number:
                    return pr
        return None

    def sync_pull_requests(self, repo: FakeRepo, ref: str, after: str) -> None:
        """A push to `repo:ref`: every open pull request from that branch gets `synchronize`."""
        branch = ref.removeprefix("refs/heads/")
        with self._pulls_lock:
            moved = [
                p
                for p in self.pulls
                if p.state == "open" and p.head_repo is repo and p.head_ref == branch
            ]
        for pr in moved:
            before, pr.head_sha = pr.head_sha, after
            self._link_head(pr)
            self.send_pull_request_event(pr, "synchronize", before=before)

    def close_pull_request(self, pr: PullRequest) -> None:
        pr.state = "closed"
        self.send_pull_request_event(pr, "closed")

    def reopen_pull_request(self, pr: PullRequest) -> None:
        pr.state = "open"
        self.send_pull_request_event(pr, "reopened")

    def send_pull_request_event(
        self, pr: PullRequest, action: str, *, before: str | None = None
    ) -> None:
        """The `pull_request` event to every hook of the base repository (and the App's)."""
        payload = pull_request_payload(pr, action, self.login, before)
        self.deliver(pr.base_repo.full_name, pr.base_repo.id, "pull_request", payload)

    def signed_pull_request(
        self, pr: PullRequest, action: str, secret: str, guid: str, *, before: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers GitHub would POST for `action`, for a receiver under test."""
        hook = Hook(hook_id=4242, url="http://receiver.invalid/", secret=secret)
        payload = pull_request_payload(pr, action, self.login, before)
        return signed_request(hook, guid, "pull_request", payload, pr.base_repo.id)

    def _link_head(self, pr: PullRequest) -> None:
        """`refs/pull/N/head` in the base repository, as GitHub keeps it (forks included)."""
        assert pr.head_repo is not None
        source, target = f"refs/heads/{pr.head_ref}", f"refs/pull/{pr.number}/head"
        git(pr.base_repo.bare, "fetch", "-q", str(pr.head_repo.bare), f"+{source}:{target}")
