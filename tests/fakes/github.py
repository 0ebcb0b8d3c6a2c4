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
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import requests

ZERO_SHA = "0" * 40
DEFAULT_TOKEN = "ghp_fake_test_token_0123456789"

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Fake Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Fake Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


def git(cwd: Path, *args: str, input: bytes | None = None) -> bytes:
    """Run git in `cwd`; raise with git's stderr on failure."""
    env = {**os.environ, **_GIT_ENV}
    proc = subprocess.run(
        ["git", "-c", "core.autocrlf=false", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        env=env,
    )
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


class GitError(RuntimeError):
    pass


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def blob_sha(data: bytes) -> str:
    """The git blob SHA-1 of `data` (what GitHub calls the file's `sha`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# --------------------------------------------------------------------------- records


@dataclass
class LoggedRequest:
    """One request the fake answered (or dropped: status 0)."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    headers: dict[str, str]
    at: float = field(default_factory=time.time)


@dataclass
class Fault:
    """An injected fault for the next `remaining` requests whose path matches `pattern`."""

    kind: str  # "status" | "secondary" | "drop" | "delay" | "cut"
    pattern: re.Pattern[str]
    method: str | None
    remaining: int
    status: int = 502
    retry_after: int = 1
    seconds: float = 0.0
    after_bytes: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method == method)
            and bool(self.pattern.search(path))
        )


@dataclass
class Hook:
    """A webhook: a repository's (`repo` set) or the App's (`repo` None)."""

    hook_id: int
    url: str
    secret: str | None
    content_type: str = "json"  # "json" | "form"
    repo: str | None = None
    active: bool = True


@dataclass
class Delivery:
    """One delivery attempt, as the deliveries API lists it."""

    id: int
    guid: str
    hook_id: int
    event: str
    body: bytes
    request_headers: dict[str, str]
    repository_id: int | None
    installation_id: int | None
    redelivery: bool = False
    delivered_at: float = field(default_factory=time.time)
    duration: float = 0.0
    status: str = "pending"
    status_code: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def item(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": iso(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": round(self.duration, 3),
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": None,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }

    def detail(self, url: str) -> dict[str, Any]:
        return {
            **self.item(),
            "url": url,
            "request": {
                "headers": self.request_headers,
                "payload": json.loads(_payload_json(self.body)),
            },
            "response": {"headers": self.response_headers, "payload": self.response_body},
        }


def _payload_json(body: bytes) -> bytes:
    if body.startswith(b"payload="):
        return urllib.parse.unquote_plus(body[len(b"payload=") :].decode()).encode()
    return body


@dataclass
class App:
    app_id: str
    public_key: str
    installation_id: int
    token_ttl: float
    hook: Hook | None = None
    tokens_issued: int = 0


@dataclass
class _Token:
    login: str
    expires_at: float | None = None


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None
    counted: bool = True  # against the rate limit
    etag: bool = True  # GETs get an ETag and may answer 304


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


# --------------------------------------------------------------------------- repositories


class FakeRepo:
    """A repository on the fake: a bare repo GitHub serves, and a work tree tests edit and push."""

    def __init__(
        self,
        fake: FakeGitHub,
        full_name: str,
        repo_id: int,
        root: Path,
        default_branch: str,
        private_to: set[str] | None,
    ) -> None:
        self.fake = fake
        self.full_name = full_name
        self.owner, self.name = full_name.split("/")
        self.id = repo_id
        self.default_branch = default_branch
        self.private_to = private_to
        self.bare = root / "bare" / f"{full_name}.git"
        self.work = root / "work" / full_name
        self.bare.mkdir(parents=True)
        self.work.mkdir(parents=True)
        git(self.bare, "init", "-q", "--bare", f"--initial-branch={default_branch}")
        git(self.work, "init", "-q", f"--initial-branch={default_branch}")
        git(self.work, "remote", "add", "origin", str(self.bare))
        self.branch = default_branch
        self._gitlinks: dict[str, str] = {}

    # -- editing the work tree
    def _path(self, path: str) -> Path:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write(self, path: str, content: str | bytes, *, executable: bool = False) -> str:
        """Write a file; returns its blob SHA."""
        data = content.encode() if isinstance(content, str) else content
        target = self._path(path)
        if target.is_symlink():
            target.unlink()
        target.write_bytes(data)
        target.chmod(0o755 if executable else 0o644)
        return blob_sha(data)

    def write_many(self, files: dict[str, str | bytes]) -> None:
        for path, content in files.items():
            self.write(path, content)

    def delete(self, path: str) -> None:
        target = self.work / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()

    def rename(self, old: str, new: str) -> None:
        self._path(new)
        (self.work / old).rename(self.work / new)

    def symlink(self, path: str, target: str) -> None:
        link = self._path(path)
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(target)

    def submodule(self, path: str, sha: str) -> None:
        """Add a gitlink (mode 160000) at the next commit, without cloning anything."""
        self._gitlinks[path] = sha

    def read(self, path: str) -> bytes:
        return (self.work / path).read_bytes()

    def commit(self, message: str = "change") -> str:
        """Stage everything and commit; returns the commit SHA."""
        git(self.work, "add", "-A")
        for path, sha in self._gitlinks.items():
            git(self.work, "update-index", "--add", "--cacheinfo", f"160000,{sha},{path}")
        git(self.work, "commit", "-q", "--allow-empty", "--no-verify", "-m", message)
        return self.local_head

    def checkout(self, branch: str, *, create: bool = False, start: str | None = None) -> None:
        args = ["checkout", "-q"]
        if create:
            args += ["-b", branch]
            if start:
                args.append(start)
        else:
            args.append(branch)
        git(self.work, *args)
        self.branch = branch

    def reset_hard(self, sha: str) -> None:
        git(self.work, "reset", "-q", "--hard", sha)

    @property
    def local_head(self) -> str:
        return git(self.work, "rev-parse", "HEAD").decode().strip()

    # -- publishing
    def ref(self, branch: str | None = None) -> str | None:
        """The SHA GitHub has for a branch (None: no such branch)."""
        return self.fake._resolve(self, f"refs/heads/{branch or self.default_branch}")

    @property
    def head(self) -> str:
        """The SHA of the default branch on GitHub."""
        sha = self.ref()
        if sha is None:
            raise GitError(f"{self.full_name} has no {self.default_branch} branch yet")
        return sha

    def push(self, branch: str | None = None, *, force: bool = False) -> str:
        """Push the work tree's HEAD to `branch` (default: the current one); fires webhooks."""
        target = branch or self.branch
        return self._push(self.local_head, target, force=force)

    def force_push_to(self, sha: str, branch: str | None = None) -> str:
        """Point the branch at `sha` (an older commit, say) and tell the hooks (forced)."""
        self.reset_hard(sha)
        return self._push(sha, branch or self.branch, force=True)

    def delete_branch(self, branch: str) -> None:
        before = self.ref(branch)
        git(self.work, "push", "-q", "origin", f":refs/heads/{branch}")
        if before:
            self.fake._on_push(self, f"refs/heads/{branch}", before, ZERO_SHA)

    def _push(self, sha: str, branch: str, *, force: bool) -> str:
        ref = f"refs/heads/{branch}"
        before = self.ref(branch) or ZERO_SHA
        git(self.work, "push", "-q", *(["-f"] if force else []), "origin", f"{sha}:{ref}")
        if before != sha:
            self.fake._on_push(self, ref, before, sha)
        return sha

    def add_hook(self, url: str, secret: str | None = None, *, content_type: str = "json") -> Hook:
        return self.fake.add_hook(self.full_name, url, secret, content_type=content_type)

    def blob_sha_at(self, path: str, ref: str | None = None) -> str:
        out = git(self.bare, "rev-parse", f"{ref or self.head}:{path}")
        return out.decode().strip()


# --------------------------------------------------------------------------- the server


class FakeGitHub:
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
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="fake-github-")) if root is None else root
        self.token = token
        self.login = login
        self.tokens: dict[str, _Token] = {token: _Token(login)}
        self.allow_anonymous = allow_anonymous
        self.max_tree_entries = max_tree_entries
        self.latency = latency
        self.rate_limit_limit = rate_limit
        self.rate_limit_remaining = rate_limit
        self.rate_limit_reset = int(time.time()) + 3600
        self.repos: dict[str, FakeRepo] = {}
        self.hooks: dict[int, Hook] = {}
        self.deliveries: list[Delivery] = []
        self.app: App | None = None
        self.log: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self.drop_next_deliveries = 0
        self.fail_next_deliveries: list[int] = []
        self.delivery_timeout = 10.0
        self._lock = threading.RLock()
        self._ids = itertools.count(1000)
        self._download_tokens: dict[str, float] = {}
        self._outbox: queue.Queue[Delivery | None] = queue.Queue()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle
    def start(self) -> FakeGitHub:
        handler = type("_Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        serve = threading.Thread(target=self._server.serve_forever, name="fake-github", daemon=True)
        sender = threading.Thread(target=self._send_loop, name="fake-github-hooks", daemon=True)
        self._threads = [serve, sender]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
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
        with self._lock:
            repo = FakeRepo(self, full_name, next(self._ids), self.root, default_branch, private_to)
            self.repos[full_name.lower()] = repo
            return repo

    def add_token(self, token: str, login: str = "someone", *, ttl: float | None = None) -> None:
        with self._lock:
            self.tokens[token] = _Token(login, time.time() + ttl if ttl is not None else None)

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self.tokens.pop(token, None)

    def register_app(
        self,
        app_id: int | str,
        public_key_pem: str,
        installation_id: int,
        *,
        token_ttl: float = 3600,
    ) -> App:
        """A GitHub App whose JWTs verify against `public_key_pem`, installed on every repo."""
        self.app = App(str(app_id), public_key_pem, installation_id, token_ttl)
        return self.app

    def add_hook(
        self, full_name: str | None, url: str, secret: str | None, *, content_type: str = "json"
    ) -> Hook:
        """A repository webhook (or, with `full_name` None, the App's webhook)."""
        with self._lock:
            hook = Hook(next(self._ids), url, secret, content_type, full_name)
            self.hooks[hook.hook_id] = hook
            if full_name is None:
                assert self.app is not None, "register_app() before adding the App's hook"
                self.app.hook = hook
            return hook

    # -- faults
    def fail_next(
        self, n: int = 1, status: int = 502, *, path: str = ".*", method: str | None = None
    ) -> None:
        """The next `n` requests matching `path` (a regex) answer `status`."""
        self._add_fault(Fault("status", re.compile(path), method, n, status=status))

    def secondary_rate_limit(
        self, n: int = 1, retry_after: int = 1, *, status: int = 403, path: str = ".*"
    ) -> None:
        """The next `n` matching requests hit the secondary rate limit (`Retry-After`)."""
        self._add_fault(
            Fault("secondary", re.compile(path), None, n, status=status, retry_after=retry_after)
        )

    def drop_connections(self, n: int = 1, *, path: str = ".*") -> None:
        """The next `n` matching requests see the connection closed without an answer."""
        self._add_fault(Fault("drop", re.compile(path), None, n))

    def cut_bodies(self, n: int = 1, *, after_bytes: int, path: str = ".*") -> None:
        """The next `n` matching answers stop after `after_bytes` of body: the connection drops."""
        self._add_fault(Fault("cut", re.compile(path), None, n, after_bytes=after_bytes))

    def delay_next(self, n: int, seconds: float, *, path: str = ".*") -> None:
        """The next `n` matching requests are answered after `seconds` (to cause timeouts)."""
        self._add_fault(Fault("delay", re.compile(path), None, n, seconds=seconds))

    def exhaust_rate_limit(self, reset_in: float = 2) -> None:
        """Spend the primary rate limit; it resets `reset_in` seconds from now."""
        with self._lock:
            self.rate_limit_remaining = 0
            self.rate_limit_reset = int(time.time() + reset_in + 0.999)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    # -- observing
    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    def requests_matching(
        self, path: str = ".*", *, method: str | None = None, status: int | None = None
    ) -> list[LoggedRequest]:
        with self._lock:
            return [
                r
                for r in self.log
                if re.search(path, r.path)
                and (method is None or r.method == method)
                and (status is None or r.status == status)
            ]

    def count(
        self, path: str = ".*", *, method: str | None = None, status: int | None = None
    ) -> int:
        """How many requests matched (every request is logged: 304s, faults, drops)."""
        return len(self.requests_matching(path, method=method, status=status))

    @property
    def request_count(self) -> int:
        return len(self.log)

    # -- webhooks
    def drop_deliveries(self, n: int = 1) -> None:
        """The next `n` webhook deliveries are never sent nor listed (a missed webhook)."""
        with self._lock:
            self.drop_next_deliveries += n

    def fail_deliveries(self, n: int = 1, status_code: int = 502) -> None:
        """The next `n` deliveries are not sent but listed as failed with `status_code`."""
        with self._lock:
            self.fail_next_deliveries.extend([status_code] * n)

    def deliveries_for(self, hook_id: int) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.hook_id == hook_id]

    def wait_for_deliveries(self, n: int, timeout: float = 10.0) -> list[Delivery]:
        """Block until `n` deliveries have been attempted; returns them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                done = [d for d in self.deliveries if d.done.is_set()]
            if len(done) >= n:
                return done
            time.sleep(0.01)
        raise TimeoutError(f"{len(done)} of {n} webhook deliveries made after {timeout}s")

    def redeliver(self, delivery_id: int) -> Delivery:
        """What `POST .../deliveries/{id}/attempts` does: resend the same event, same GUID."""
        with self._lock:
            original = next((d for d in self.deliveries if d.id == delivery_id), None)
            if original is None:
                raise HttpError(404, "Not Found")
            copy = Delivery(
                id=next(self._ids),
                guid=original.guid,
                hook_id=original.hook_id,
                event=original.event,
                body=original.body,
                request_headers=dict(original.request_headers),
                repository_id=original.repository_id,
                installation_id=original.installation_id,
                redelivery=True,
            )
            self.deliveries.append(copy)
        self._outbox.put(copy)
        return copy

    def _on_push(self, repo: FakeRepo, ref: str, before: str, after: str) -> None:
        """After a push: one delivery per hook that covers the repository."""
        payload = self._push_payload(repo, ref, before, after)
        with self._lock:
            hooks = [h for h in self.hooks.values() if h.active and h.repo is not None]
            hooks = [h for h in hooks if h.repo.lower() == repo.full_name.lower()]  # type: ignore[union-attr]
            if self.app is not None and self.app.hook is not None:
                hooks.append(self.app.hook)
            if hooks and self.drop_next_deliveries > 0:
                self.drop_next_deliveries -= 1
                return
            fail = self.fail_next_deliveries.pop(0) if hooks and self.fail_next_deliveries else None
            guid = str(uuid.uuid4())
            for hook in hooks:
                delivery = self._make_delivery(hook, guid, "push", payload, repo)
                self.deliveries.append(delivery)
                if fail is not None:
                    delivery.status_code = fail
                    delivery.status = f"Invalid HTTP Response: {fail}"
                    delivery.done.set()
                else:
                    self._outbox.put(delivery)

    def _make_delivery(
        self, hook: Hook, guid: str, event: str, payload: dict[str, Any], repo: FakeRepo
    ) -> Delivery:
        installation_id = None
        if hook.repo is None and self.app is not None:
            installation_id = self.app.installation_id
            payload = {**payload, "installation": {"id": installation_id}}
        raw = json.dumps(payload).encode()
        if hook.content_type == "form":
            body = b"payload=" + urllib.parse.quote_plus(raw.decode()).encode()
            ctype = "application/x-www-form-urlencoded"
        else:
            body, ctype = raw, "application/json"
        headers = {
            "Accept": "*/*",
            "Content-Type": ctype,
            "User-Agent": "GitHub-Hookshot/fake",
            "X-GitHub-Delivery": guid,
            "X-GitHub-Event": event,
            "X-GitHub-Hook-ID": str(hook.hook_id),
            "X-GitHub-Hook-Installation-Target-ID": str(
                installation_id if installation_id else repo.id
            ),
            "X-GitHub-Hook-Installation-Target-Type": "integration"
            if installation_id
            else "repository",
        }
        if hook.secret:
            key = hook.secret.encode()
            headers["X-Hub-Signature"] = "sha1=" + hmac.new(key, body, "sha1").hexdigest()
            headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(key, body, "sha256").hexdigest()
        return Delivery(
            id=next(self._ids),
            guid=guid,
            hook_id=hook.hook_id,
            event=event,
            body=body,
            request_headers=headers,
            repository_id=repo.id,
            installation_id=installation_id,
        )

    def _send_loop(self) -> None:
        session = requests.Session()
        while True:
            delivery = self._outbox.get()
            if delivery is None:
                session.close()
                return
            self._send(session, delivery)

    def _send(self, session: requests.Session, delivery: Delivery) -> None:
        hook = self.hooks.get(delivery.hook_id)
        started = time.monotonic()
        delivery.delivered_at = time.time()
        try:
            assert hook is not None
            resp = session.post(
                hook.url,
                data=delivery.body,
                headers=delivery.request_headers,
                timeout=self.delivery_timeout,
            )
            delivery.status_code = resp.status_code
            delivery.status = "OK" if resp.ok else f"Invalid HTTP Response: {resp.status_code}"
            delivery.response_headers = dict(resp.headers)
            delivery.response_body = resp.text[:1000]
        except requests.Timeout:
            delivery.status_code, delivery.status = 0, "timed out"
        except Exception:
            delivery.status_code, delivery.status = 0, "failed to connect"
        delivery.duration = time.monotonic() - started
        delivery.done.set()

    def _push_payload(self, repo: FakeRepo, ref: str, before: str, after: str) -> dict[str, Any]:
        deleted = after == ZERO_SHA
        created = before == ZERO_SHA
        forced = not created and not deleted and not self._is_ancestor(repo, before, after)
        commits = [] if deleted else self._push_commits(repo, before, after)
        owner = {"name": repo.owner, "email": None, "login": repo.owner, "id": 1, "type": "User"}
        web = f"https://github.com/{repo.full_name}"
        return {
            "ref": ref,
            "before": before,
            "after": after,
            "created": created,
            "deleted": deleted,
            "forced": forced,
            "base_ref": None,
            "compare": f"{web}/compare/{before[:12]}...{after[:12]}",
            "commits": commits,
            "head_commit": commits[-1] if commits else None,
            "repository": {
                **self._repo_json(repo),
                "owner": owner,
                "created_at": 1557933565,
                "pushed_at": int(time.time()),
                "master_branch": repo.default_branch,
            },
            "pusher": {"name": self.login, "email": f"{self.login}@users.noreply.github.com"},
            "sender": {"login": self.login, "id": 2, "type": "User"},
        }

    def _push_commits(self, repo: FakeRepo, before: str, after: str) -> list[dict[str, Any]]:
        spec = after if before == ZERO_SHA else f"{before}..{after}"
        shas = git(repo.bare, "rev-list", "--reverse", "--max-count=2048", spec).decode().split()
        if not shas and before != ZERO_SHA:  # a force-push backwards: GitHub lists the head
            shas = [after]
        return [self._push_commit(repo, sha) for sha in shas[-2048:]]

    def _push_commit(self, repo: FakeRepo, sha: str) -> dict[str, Any]:
        info = self._commit_info(repo, sha)
        changes = (
            git(
                repo.bare,
                "diff-tree",
                "-r",
                "--root",
                "--no-renames",
                "--name-status",
                "--no-commit-id",
                sha,
            )
            .decode()
            .splitlines()
        )
        files: dict[str, list[str]] = {"A": [], "D": [], "M": []}
        for line in changes:
            status, _, path = line.partition("\t")
            files.setdefault(status[:1], []).append(path)
        person = {
            "name": info["author"]["name"],
            "email": info["author"]["email"],
            "username": repo.owner,
        }
        return {
            "id": sha,
            "tree_id": info["tree"],
            "distinct": True,
            "message": info["message"],
            "timestamp": info["author"]["date"],
            "url": f"https://github.com/{repo.full_name}/commit/{sha}",
            "author": person,
            "committer": person,
            "added": files["A"],
            "removed": files["D"],
            "modified": files["M"] + files.get("T", []),
        }

    # -- git reads (thread-safe: git itself is)
    def _resolve(self, repo: FakeRepo, ref: str) -> str | None:
        try:
            out = git(repo.bare, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except GitError:
            return None
        return out.decode().strip() or None

    def _resolve_ref(self, repo: FakeRepo, ref: str) -> str | None:
        """A branch, a full or abbreviated SHA, or HEAD (the default branch) to a commit SHA."""
        if ref == "HEAD":
            return self._resolve(repo, f"refs/heads/{repo.default_branch}")
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}"):
            sha = self._resolve(repo, candidate)
            if sha:
                return sha
        if re.fullmatch(r"[0-9a-f]{7,40}", ref):
            return self._resolve(repo, ref)
        return None

    def _is_ancestor(self, repo: FakeRepo, a: str, b: str) -> bool:
        try:
            git(repo.bare, "merge-base", "--is-ancestor", a, b)
        except GitError:
            return False
        return True

    def _object_type(self, repo: FakeRepo, sha: str) -> str | None:
        if not re.fullmatch(r"[0-9a-f]{4,40}", sha):
            return None
        try:
            return git(repo.bare, "cat-file", "-t", sha).decode().strip()
        except GitError:
            return None

    def _commit_info(self, repo: FakeRepo, sha: str) -> dict[str, Any]:
        raw = git(repo.bare, "cat-file", "commit", sha).decode()
        header, _, message = raw.partition("\n\n")
        info: dict[str, Any] = {"parents": [], "message": message.rstrip("\n")}
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                info["tree"] = value
            elif key == "parent":
                info["parents"].append(value)
            elif key in ("author", "committer"):
                m = re.match(r"(.*) <(.*)> (\d+) ([+-]\d{4})", value)
                assert m, value
                info[key] = {"name": m[1], "email": m[2], "date": iso(int(m[3]))}
        return info

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        return {
            "id": repo.id,
            "node_id": base64.b64encode(f"010:Repository{repo.id}".encode()).decode(),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private_to is not None,
            "owner": {
                "login": repo.owner,
                "id": 1,
                "type": "User",
                "url": f"{self.url}/users/{repo.owner}",
            },
            "html_url": f"https://github.com/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": api,
            "archive_url": api + "/{archive_format}{/ref}",
            "trees_url": api + "/git/trees{/sha}",
            "blobs_url": api + "/git/blobs{/sha}",
            "commits_url": api + "/commits{/sha}",
            "contents_url": api + "/contents/{+path}",
            "compare_url": api + "/compare/{base}...{head}",
            "hooks_url": api + "/hooks",
            "clone_url": f"https://github.com/{repo.full_name}.git",
            "default_branch": repo.default_branch,
            "visibility": "private" if repo.private_to is not None else "public",
            "archived": False,
            "disabled": False,
            "size": 0,
        }

    # -- rate limit and auth
    def _rate_headers(self) -> dict[str, str]:
        with self._lock:
            self._maybe_reset_rate()
            return {
                "x-ratelimit-limit": str(self.rate_limit_limit),
                "x-ratelimit-remaining": str(self.rate_limit_remaining),
                "x-ratelimit-reset": str(self.rate_limit_reset),
                "x-ratelimit-used": str(self.rate_limit_limit - self.rate_limit_remaining),
                "x-ratelimit-resource": "core",
            }

    def _maybe_reset_rate(self) -> None:
        if time.time() >= self.rate_limit_reset:
            self.rate_limit_remaining = self.rate_limit_limit
            self.rate_limit_reset = int(time.time()) + 3600

    def _spend(self) -> None:
        with self._lock:
            self._maybe_reset_rate()
            self.rate_limit_remaining = max(0, self.rate_limit_remaining - 1)

    def _rate_exhausted(self) -> bool:
        with self._lock:
            self._maybe_reset_rate()
            return self.rate_limit_remaining <= 0

    def _identity(self, authorization: str | None) -> str | None:
        """The login a token acts as; raises 401 for unknown or expired tokens."""
        if not authorization:
            if self.allow_anonymous:
                return None
            raise HttpError(401, "Requires authentication")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            raise HttpError(401, "Bad credentials")
        with self._lock:
            tok = self.tokens.get(value.strip())
        if tok is None or (tok.expires_at is not None and time.time() >= tok.expires_at):
            raise HttpError(401, "Bad credentials")
        return tok.login

    def _app_jwt(self, authorization: str | None) -> App:
        """Verify an App JWT (RS256, `iss` = app id, not expired) as GitHub does."""
        if self.app is None:
            raise HttpError(404, "Not Found")
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            raise HttpError(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                token.strip(),
                self.app.public_key,
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            raise HttpError(
                401, f"A JSON web token could not be decoded ({type(exc).__name__})"
            ) from exc
        if str(claims["iss"]) != self.app.app_id:
            raise HttpError(401, "'Issuer' claim ('iss') must be an Integer")
        if claims["exp"] - claims["iat"] > 660:
            raise HttpError(401, "Expiration time' claim ('exp') is too far in the future")
        return self.app

    def _repo_for(self, owner: str, name: str, login: str | None) -> FakeRepo:
        repo = self.repos.get(f"{owner}/{name}".lower())
        if repo is None or (repo.private_to is not None and login not in repo.private_to):
            raise HttpError(404, "Not Found")
        return repo


def _paginate_link(url: str, params: dict[str, str]) -> str:
    return f'<{url}?{urllib.parse.urlencode(params)}>; rel="next"'


# --------------------------------------------------------------------------- routes


Route = Callable[["_Handler", re.Match[str]], _Response]
_ROUTES: list[tuple[str, re.Pattern[str], str]] = []


def route(method: str, pattern: str) -> Callable[[Route], Route]:
    def register(func: Route) -> Route:
        _ROUTES.append((method, re.compile(pattern + "$"), func.__name__))
        return func

    return register


_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a kept-alive client's delayed ACK
    # stalls every request after the first by ~40 ms. GitHub's servers don't do that.
    disable_nagle_algorithm = True
    server_version = "GitHub.com"
    fake: FakeGitHub

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing
    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def _handle(self, method: str) -> None:
        fake = self.fake
        self.login: str | None = None
        parsed = urllib.parse.urlsplit(self.path)
        self.req_path = urllib.parse.unquote(parsed.path)
        self.query = urllib.parse.parse_qs(parsed.query)
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        if fake.latency:
            time.sleep(fake.latency)
        fault = self._take_fault(method)
        if fault is not None and fault.kind == "drop":
            self._log(method, 0)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
            fault = None
        self.cut_after: int | None = None
        if fault is not None and fault.kind == "cut":
            self.cut_after = fault.after_bytes
            fault = None
        try:
            resp = self._fault_response(fault) if fault else self._dispatch(method)
        except HttpError as err:
            resp = self._error(err)
        except Exception as exc:  # a bug in the fake: answer 500, visibly
            resp = _Response(500, json.dumps({"message": f"fake bug: {exc!r}"}).encode())
        self._respond(method, resp)

    def _take_fault(self, method: str) -> Fault | None:
        with self.fake._lock:
            for fault in self.fake.faults:
                if fault.matches(method, self.req_path):
                    fault.remaining -= 1
                    return fault
        return None

    def _fault_response(self, fault: Fault) -> _Response:
        if fault.kind == "secondary":
            msg = (
                "You have exceeded a secondary rate limit. "
                "Please wait a few minutes before you try again."
            )
            return _Response(
                fault.status,
                json.dumps(
                    {"message": msg, "documentation_url": "https://docs.github.com/rest"}
                ).encode(),
                {"Retry-After": str(fault.retry_after)},
                counted=False,
                etag=False,
            )
        return _Response(
            fault.status,
            json.dumps({"message": f"fake fault {fault.status}"}).encode(),
            counted=False,
            etag=False,
        )

    def _error(self, err: HttpError) -> _Response:
        body = {"message": err.message, "documentation_url": "https://docs.github.com/rest"}
        if err.status == 422:
            body["status"] = "422"
        return _Response(
            err.status,
            json.dumps(body).encode(),
            err.headers,
            counted=err.status != 401,
            etag=False,
        )

    def _dispatch(self, method: str) -> _Response:
        for verb, pattern, name in _ROUTES:
            m = pattern.match(self.req_path)
            if m and verb == method.replace("HEAD", "GET"):
                func: Route = getattr(_Handler, name)
                if not name.startswith(("codeload", "app_")):
                    self.login = self.fake._identity(self.headers.get("Authorization"))
                    if name != "rate_limit" and self.fake._rate_exhausted():
                        raise HttpError(
                            403,
                            "API rate limit exceeded for user. (But here's the good news: "
                            "Authenticated requests get a higher rate limit.)",
                        )
                return func(self, m)
        raise HttpError(404, "Not Found")

    def _respond(self, method: str, resp: _Response) -> None:
        fake = self.fake
        headers = {"Content-Type": "application/json; charset=utf-8", **resp.headers}
        status = resp.status
        api = not self.req_path.startswith("/_codeload")
        if method == "GET" and resp.etag and status == 200 and resp.stream is None:
            etag = '"' + hashlib.sha256(resp.body).hexdigest()[:40] + '"'
            headers["ETag"] = etag
            headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
            headers["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
            inm = self.headers.get("If-None-Match")
            if inm and etag in [t.strip().removeprefix("W/") for t in inm.split(",")]:
                status, resp.body, resp.counted = 304, b"", False
        if api and resp.counted and status < 500 and status != 304:
            fake._spend()
        if api:
            headers.update(fake._rate_headers())
        headers["X-GitHub-Request-Id"] = uuid.uuid4().hex[:16].upper()
        self._log(method, status)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if resp.stream is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent = 0
            with contextlib.suppress(OSError):
                for chunk in resp.stream:
                    if not chunk:
                        continue
                    if self.cut_after is not None and sent + len(chunk) > self.cut_after:
                        part = chunk[: self.cut_after - sent]
                        self.wfile.write(b"%x\r\n%s" % (len(chunk), part))
                        self._cut()
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                self.wfile.write(b"0\r\n\r\n")
            return
        body = b"" if status == 304 or method == "HEAD" else resp.body
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.cut_after is not None and len(body) > self.cut_after:
            self.wfile.write(body[: self.cut_after])
            self._cut()
            return
        self.wfile.write(body)

    def _cut(self) -> None:
        """Drop the connection mid-body, as a reset network does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    def _log(self, method: str, status: int) -> None:
        keep = ("Accept", "If-None-Match", "Authorization", "User-Agent", "Content-Type")
        headers = {k: v for k in keep if (v := self.headers.get(k)) is not None}
        with self.fake._lock:
            self.fake.log.append(LoggedRequest(method, self.req_path, self.query, status, headers))

    def _json(
        self, obj: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> _Response:
        return _Response(status, json.dumps(obj, separators=(",", ":")).encode(), headers or {})

    def _accept(self) -> str:
        return (self.headers.get("Accept") or "").lower()

    def _repo(self, m: re.Match[str]) -> FakeRepo:
        return self.fake._repo_for(m["owner"], m["name"], self.login)

    def _api(self, repo: FakeRepo) -> str:
        return f"{self.fake.url}/repos/{repo.full_name}"

    # -- repository routes
    @route("GET", _REPO)
    def repo(self, m: re.Match[str]) -> _Response:
        repo = self._repo(m)
        return self._json(
            {
                **self.fake._repo_json(repo),
                "permissions": {"admin": False, "push": False, "pull": True},
            }
        )

    @route("GET", _REPO + r"/branches/(?P<branch>.+)")
    def branch(self, m: re.Match[str]) -> _Response:
        repo = self._repo(m)
        sha = repo.ref(m["branch"])
        if sha is None:
            raise HttpError(404, "Branch not found")
        api = self._api(repo)
        return self._json(
            {
                "name": m["branch"],
                "commit": self._commit_json(repo, sha),
                "_links": {"self": f"{api}/branches/{m['branch']}", "html": ""},
                "protected": False,
                "protection_url": f"{api}/branches/{m['branch']}/protection",
            }
        )

    @route("GET", _REPO + r"/git/(?P<kind>refs?)/heads/(?P<branch>.+)")
    def git_ref(self, m: re.Match[str]) -> _Response:
        repo = self._repo(m)
        branch = m["branch"]
        sha = repo.ref(branch)
        if sha is not None:
            return self._json(self._ref_json(repo, branch, sha))
        if m["kind"] == "refs":  # prefix matching, as GitHub's list-matching-refs does
            out = git(repo.bare, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/")
            found = []
            for line in out.decode().splitlines():
                ref, sha = line.split()
                if ref.startswith(f"refs/heads/{branch}"):
                    found.append(self._ref_json(repo, ref.removeprefix("refs/heads/"), sha))
            if found:
                return self._json(found)
        raise HttpError(404, "Not Found")

    def _ref_json(self, repo: FakeRepo, branch: str, sha: str) -> dict[str, Any]:
        api = self._api(repo)
        return {
            "ref": f"refs/heads/{branch}",
            "node_id": "REF_" + sha[:10],
            "url": f"{api}/git/refs/heads/{branch}",
            "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"},
        }

    @route("GET", _REPO + r"/commits/(?P<ref>.+)")
    def commit(self, m: re.Match[str]) -> _Response:
        repo = self._repo(m)
        if not git(repo.bare, "for-each-ref", "refs/heads/").strip():
            raise HttpError(409, "Git Repository is empty.")
        sha = self.fake._resolve_ref(repo, m["ref"])
        if sha is None:
            raise HttpError(422, f"No commit found for SHA: {m['ref']}")
        if "application/vnd.github.sha" in self._accept():
            return _Response(
                200, sha.encode(), {"Content-Type": "application/vnd.github.sha; charset=utf-8"}
            )
        body = self._commit_json(repo, sha)
        body["files"] = self._diff_files(
            repo, body["parents"][0]["sha"] if body["parents"] else None, sha
        )
        return self._json(body)

    def _commit_json(self, repo: FakeRepo, sha: str) -> dict[str, Any]:
        info = self.fake._commit_info(repo, sha)
        api = self._api(repo)
        return {
            "sha": sha,
            "node_id": "C_" + sha[:10],
            "commit": {
                "author": info["author"],
                "committer": info["committer"],
                "message": info["message"],
                "tree": {"sha": info["tree"], "url": f"{api}/git/trees/{info['tree']}"},
                "url": f"{api}/git/commits/{sha}",
                "comment_count": 0,
            },
            "url": f"{api}/commits/{sha}",
            "html_url": f"https://github.com/{repo.full_name}/commit/{sha}",
            "author": None,
            "committer": None,
            "parents": [
                {"sha": p, "url": f"{api}/commits/{p}", "html_url": ""} for p in info["parents"]
            ],
        }

    @route("GET", _REPO + r"/git/commits/(?P<sha>[0-9a-f]+)")
    def git_commit(self, m: re.Match[str]) -> _Response:
        repo = self._repo(m)
        if self.fake._object_type(repo, m["sha"]) != "commit":
            raise HttpError(404, "Not Found")
        sha = self.fake._resolve(repo, m["sha"])
        assert sha is not None
        info = self.fake._commit_info(repo, sha)
        api = self._api(repo)
        return self._json(
            {
                "sha": sha,
                "node_id": "C_" + sha[:10],
                "url": f"{api}/git/commits/{sha}",
                "html_url": f"https://github.com/{repo.full_name}/commit/{sha}",
                "author": info["author"],
                "committer": info["committer"],
                "tree": {"sha": info["tree"], "url": f"{api}/git/trees/{info['tree']}"},
                "message": info["message"],
                "parents": [
                    {"sha": p, "url": f"{api}/git/commits/{p}", "html_url": ""}
                    for p in info["parents"]
                ],
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                },
            }
        )

    @route("GET", _REPO + r"/git/trees/(?P<sha>.+)")
    def tree(self, m: re.Match[str]) -> _Response:
        repo = self._repo(m)
        ref = m["sha"]
        kind = self.fake._object_type(repo, ref)
        if kind is None:
            sha = self.fake._resolve_ref(repo, ref)
            if sha is None:
                raise HttpError(404, "Not Found")
            ref, kind = sha, "commit"
        if kind not in ("tree", "commit"):
            raise HttpError(422, "Invalid tree info")
        tree_sha = git(repo.bare, "rev-parse", f"{ref}^{{tree}}").decode().strip()
        recursive = self.query.get("recursive", ["0"])[0] not in ("", "0", "false")
        args = ["ls-tree", "-z", "-l", "--full-tree"] + (["-r", "-t"] if recursive else [])
        out = git(repo.bare, *args, tree_sha)
        api = self._api(repo)
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.decode().partition("\t")
            mode, otype, osha, size = meta.split()
            entry: dict[str, Any] = {"path": path, "mode": mode, "type": otype, "sha": osha}
            if otype == "blob":
                entry["size"] = int(size)
                entry["url"] = f"{api}/git/blobs/{osha}"
            elif otype == "tree":
                entry["url"] = f"{api}/git/trees/{osha}"
            entries.append(entry)
        truncated = len(entries) > self.fake.max_tree_entries
        return self._json(
            {
                "sha": tree_sha,
                "url": f"{api}/git/trees/{tree_sha}",
                "tree": entries[: self.fake.max_tree_entries],
                "truncated": truncated,
            }
        )

    @route("GET", _REPO + r"/git/blobs/(?P<sha>[0-9a-f]+)")
    def blob(self, m: re.Match[str]) -> _Response:
        repo = self._repo(m)
        if len(m["sha"]) != 40 or self.fake._object_type(repo, m["sha"]) != "blob":
            raise HttpError(404, "Not Found")
        data = git(repo.bare, "cat-file", "blob", m["sha"])
        if "raw" in self._accept():
            return _Response(200, data, {"Content-Type": "application/vnd.github.raw"})
        api = self._api(repo)
        return self._json(
            {
                "sha": m["sha"],
                "node_id": "B_" + m["sha"][:10],
                "size": len(data),
                "url": f"{api}/git/blobs/{m['sha']}",
                "content": base64.encodebytes(data).decode(),
                "encoding": "base64",
            }
        )

    @route("GET", _REPO + r"/contents(?:/(?P<path>.*))?")
    def contents(self, m: re.Match[str]) -> _Response:
        repo = self._repo(m)
        ref = self.query.get("ref", [repo.default_branch])[0]
        sha = self.fake._resolve_ref(repo, ref)
        if sha is None:
            raise HttpError(404, f"No commit found for the ref {ref}")
        path = (m["path"] or "").strip("/")
        api = self._api(repo)
        if not path:
            listing = git(repo.bare, "ls-tree", "-z", "-l", sha)
        else:
            listing = git(repo.bare, "ls-tree", "-z", "-l", sha, "--", path)
        records = [r.decode() for r in listing.split(b"\0") if r]
        exact = [r for r in records if r.partition("\t")[2] == path]
        if path and not exact:
            raise HttpError(404, "Not Found")
        if path and exact[0].split()[1] == "blob":
            _mode, _, osha, _size = exact[0].partition("\t")[0].split()
            data = git(repo.bare, "cat-file", "blob", osha)
            if "raw" in self._accept():
                return _Response(200, data, {"Content-Type": "application/vnd.github.raw"})
            return self._json(
                {
                    **self._content_entry(repo, api, path, "file", osha, len(data), ref),
                    "content": base64.encodebytes(data).decode(),
                    "encoding": "base64",
                }
            )
        if path:
            listing = git(repo.bare, "ls-tree", "-z", "-l", f"{sha}:{path}")
            records = [r.decode() for r in listing.split(b"\0") if r]
        items = []
        for rec in records:
            meta, _, name = rec.partition("\t")
            _mode, otype, osha, size = meta.split()
            full = f"{path}/{name}" if path else name
            kind = {"blob": "file", "tree": "dir", "commit": "submodule"}[otype]
            items.append(
                self._content_entry(
                    repo, api, full, kind, osha, int(size) if size != "-" else 0, ref
                )
            )
        return self._json(items)

    def _content_entry(
        self, repo: FakeRepo, api: str, path: str, kind: str, sha: str, size: int, ref: str
    ) -> dict[str, Any]:
        url = f"{api}/contents/{urllib.parse.quote(path)}?ref={ref}"
        git_url = f"{api}/git/{'trees' if kind == 'dir' else 'blobs'}/{sha}"
        return {
            "type": kind,
            "size": size,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": url,
            "git_url": git_url,
            "html_url": f"https://github.com/{repo.full_name}/blob/{ref}/{path}",
            "download_url": None,
            "_links": {"self": url, "git": git_url, "html": ""},
        }

    @route("GET", _REPO + r"/compare/(?P<base>.+?)\.\.\.(?P<head>.+)")
    def compare(self, m: re.Match[str]) -> _Response:
        repo = self._repo(m)
        base = self.fake._resolve_ref(repo, m["base"])
        head = self.fake._resolve_ref(repo, m["head"])
        if base is None or head is None:
            raise HttpError(404, "Not Found")
        try:
            merge_base = git(repo.bare, "merge-base", base, head).decode().strip()
        except GitError:
            merge_base = None
        ahead = git(repo.bare, "rev-list", "--reverse", f"{base}..{head}").decode().split()
        behind = git(repo.bare, "rev-list", "--count", f"{head}..{base}").decode().strip()
        status = (
            "identical"
            if base == head
            else "ahead"
            if int(behind) == 0
            else "behind"
            if not ahead
            else "diverged"
        )
        return self._json(
            {
                "url": f"{self._api(repo)}/compare/{m['base']}...{m['head']}",
                "status": status,
                "ahead_by": len(ahead),
                "behind_by": int(behind),
                "total_commits": len(ahead),
                "base_commit": self._commit_json(repo, base),
                "merge_base_commit": self._commit_json(repo, merge_base) if merge_base else None,
                "commits": [self._commit_json(repo, c) for c in ahead[:250]],
                "files": self._diff_files(repo, merge_base or base, head),
            }
        )

    def _diff_files(self, repo: FakeRepo, base: str | None, head: str) -> list[dict[str, Any]]:
        args = ["diff-tree", "-r", "-z", "-M", "--no-commit-id"]
        out = git(repo.bare, *args, *([base, head] if base else ["--root", head]))
        fields = out.decode().split("\0")
        files = []
        i = 0
        while i < len(fields) - 1:
            meta = fields[i].split()
            status = meta[4][0]
            new_sha = meta[3]
            if status in "RC":
                old, new = fields[i + 1], fields[i + 2]
                i += 3
            else:
                old = new = fields[i + 1]
                i += 2
            entry: dict[str, Any] = {
                "sha": new_sha,
                "filename": new,
                "status": {
                    "A": "added",
                    "D": "removed",
                    "M": "modified",
                    "R": "renamed",
                    "C": "copied",
                    "T": "changed",
                }.get(status, "modified"),
                "additions": 0,
                "deletions": 0,
                "changes": 0,
                "blob_url": "",
                "raw_url": "",
                "contents_url": f"{self._api(repo)}/contents/{new}?ref={head}",
            }
            if status in "RC":
                entry["previous_filename"] = old
            files.append(entry)
        return files[:300]

    @route("GET", _REPO + r"/tarball(?:/(?P<ref>.+))?")
    def tarball(self, m: re.Match[str]) -> _Response:
        repo = self._repo(m)
        sha = self.fake._resolve_ref(repo, m["ref"] or "HEAD")
        if sha is None:
            raise HttpError(404, "Not Found")
        token = uuid.uuid4().hex
        with self.fake._lock:
            self.fake._download_tokens[token] = time.time() + 300
        location = f"{self.fake.url}/_codeload/{repo.full_name}/legacy.tar.gz/{sha}?token={token}"
        return _Response(302, b"", {"Location": location, "Content-Type": "text/html"}, etag=False)

    @route(
        "GET", r"/_codeload/(?P<owner>[^/]+)/(?P<name>[^/]+)/legacy\.tar\.gz/(?P<sha>[0-9a-f]{40})"
    )
    def codeload_tarball(self, m: re.Match[str]) -> _Response:
        token = self.query.get("token", [""])[0]
        with self.fake._lock:
            expires = self.fake._download_tokens.get(token, 0)
        if expires < time.time():
            raise HttpError(404, "Not Found")
        repo = self.fake.repos.get(f"{m['owner']}/{m['name']}".lower())
        if repo is None:
            raise HttpError(404, "Not Found")
        sha = m["sha"]
        prefix = f"{repo.owner}-{repo.name}-{sha[:7]}/"
        proc = subprocess.Popen(
            ["git", "archive", "--format=tar.gz", f"--prefix={prefix}", sha],
            cwd=repo.bare,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **_GIT_ENV},
        )

        def chunks() -> Iterator[bytes]:
            assert proc.stdout is not None
            try:
                while chunk := proc.stdout.read(64 * 1024):
                    yield chunk
            finally:
                proc.stdout.close()
                proc.kill()
                proc.wait()

        return _Response(
            200,
            headers={
                "Content-Type": "application/x-gzip",
                "Content-Disposition": f"attachment; filename={prefix.rstrip('/')}.tar.gz",
            },
            stream=chunks(),
            counted=False,
            etag=False,
        )

    @route("GET", r"/rate_limit")
    def rate_limit(self, m: re.Match[str]) -> _Response:
        fake = self.fake
        with fake._lock:
            fake._maybe_reset_rate()
            core = {
                "limit": fake.rate_limit_limit,
                "used": fake.rate_limit_limit - fake.rate_limit_remaining,
                "remaining": fake.rate_limit_remaining,
                "reset": fake.rate_limit_reset,
            }
        other = {"limit": 30, "used": 0, "remaining": 30, "reset": core["reset"]}
        resp = self._json(
            {"resources": {"core": core, "search": other, "graphql": core}, "rate": core}
        )
        resp.counted = False
        return resp

    # -- webhook deliveries
    @route("GET", _REPO + r"/hooks/(?P<hook>\d+)/deliveries")
    def hook_deliveries(self, m: re.Match[str]) -> _Response:
        self._repo(m)
        hook = self._hook(m, int(m["hook"]))
        return self._list_deliveries(
            hook, f"{self.fake.url}/repos/{m['owner']}/{m['name']}/hooks/{hook.hook_id}/deliveries"
        )

    @route("GET", _REPO + r"/hooks/(?P<hook>\d+)/deliveries/(?P<id>\d+)")
    def hook_delivery(self, m: re.Match[str]) -> _Response:
        self._repo(m)
        hook = self._hook(m, int(m["hook"]))
        return self._json(self._delivery(hook, int(m["id"])).detail(hook.url))

    @route("POST", _REPO + r"/hooks/(?P<hook>\d+)/deliveries/(?P<id>\d+)/attempts")
    def hook_redeliver(self, m: re.Match[str]) -> _Response:
        self._repo(m)
        hook = self._hook(m, int(m["hook"]))
        self.fake.redeliver(self._delivery(hook, int(m["id"])).id)
        return _Response(202, b"{}", etag=False)

    @route("GET", r"/app/hook/deliveries")
    def app_deliveries(self, m: re.Match[str]) -> _Response:
        app = self.fake._app_jwt(self.headers.get("Authorization"))
        if app.hook is None:
            raise HttpError(404, "Not Found")
        return self._list_deliveries(app.hook, f"{self.fake.url}/app/hook/deliveries")

    @route("GET", r"/app/hook/deliveries/(?P<id>\d+)")
    def app_delivery(self, m: re.Match[str]) -> _Response:
        app = self.fake._app_jwt(self.headers.get("Authorization"))
        if app.hook is None:
            raise HttpError(404, "Not Found")
        return self._json(self._delivery(app.hook, int(m["id"])).detail(app.hook.url))

    @route("POST", r"/app/hook/deliveries/(?P<id>\d+)/attempts")
    def app_redeliver(self, m: re.Match[str]) -> _Response:
        app = self.fake._app_jwt(self.headers.get("Authorization"))
        if app.hook is None:
            raise HttpError(404, "Not Found")
        self.fake.redeliver(self._delivery(app.hook, int(m["id"])).id)
        return _Response(202, b"{}", etag=False)

    @route("POST", r"/app/installations/(?P<id>\d+)/access_tokens")
    def app_access_token(self, m: re.Match[str]) -> _Response:
        app = self.fake._app_jwt(self.headers.get("Authorization"))
        if int(m["id"]) != app.installation_id:
            raise HttpError(404, "Not Found")
        token = f"ghs_{uuid.uuid4().hex}"
        self.fake.add_token(token, f"app-installation-{app.installation_id}", ttl=app.token_ttl)
        app.tokens_issued += 1
        expires = datetime.now(UTC) + timedelta(seconds=app.token_ttl)
        return _Response(
            201,
            json.dumps(
                {
                    "token": token,
                    "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "permissions": {"contents": "read", "metadata": "read"},
                    "repository_selection": "all",
                }
            ).encode(),
            counted=False,
            etag=False,
        )

    def _hook(self, m: re.Match[str], hook_id: int) -> Hook:
        hook = self.fake.hooks.get(hook_id)
        if (
            hook is None
            or hook.repo is None
            or hook.repo.lower() != f"{m['owner']}/{m['name']}".lower()
        ):
            raise HttpError(404, "Not Found")
        return hook

    def _delivery(self, hook: Hook, delivery_id: int) -> Delivery:
        for d in self.fake.deliveries_for(hook.hook_id):
            if d.id == delivery_id:
                return d
        raise HttpError(404, "Not Found")

    def _list_deliveries(self, hook: Hook, url: str) -> _Response:
        per_page = min(100, max(1, int(self.query.get("per_page", ["30"])[0])))
        cursor = self.query.get("cursor", [""])[0]
        items = sorted(self.fake.deliveries_for(hook.hook_id), key=lambda d: d.id, reverse=True)
        items = [d for d in items if d.done.is_set()]
        if cursor:
            items = [d for d in items if d.id < int(cursor)]
        page = items[:per_page]
        headers = {}
        if len(items) > per_page:
            headers["Link"] = _paginate_link(
                url, {"per_page": str(per_page), "cursor": str(page[-1].id)}
            )
        return self._json([d.item() for d in page], headers=headers)


def rsa_key_pair() -> tuple[str, str]:
    """A fresh RSA key as (private PKCS8 PEM, public PEM), for GitHub App tests."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class RecordingReceiver:
    """A webhook receiver for tests: records each POST and answers `status` (settable)."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/github"

    def __enter__(self) -> RecordingReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


__all__ = [
    "DEFAULT_TOKEN",
    "Delivery",
    "FakeGitHub",
    "FakeRepo",
    "Hook",
    "LoggedRequest",
    "RecordingReceiver",
    "blob_sha",
    "git",
    "rsa_key_pair",
]
