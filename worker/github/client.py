"""The one door to GitHub: every request counted, retried, rate-limit aware and secret-safe.

PyGithub builds the `Github` object (and, for a GitHub App, keeps the installation token fresh),
but it cannot send `If-None-Match` and surface a 304, stream a tarball with bounded memory, or
count its own retries. So every request catalog-sync makes goes through `GitHubClient.request`,
on a `requests.Session` that carries the same auth header (`auth`): one place counts each HTTP
request (retries, redirects and 304s included), retries 5xx/timeouts/resets and waits out rate
limits within a bound (`retry`), and turns 401/404 into clear errors.

Secrets never leave the client: the token is only ever put in a request header; messages name
the repository, the status and the cause, never a header or a query string.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests
from github import Github
from requests import Response
from requests.adapters import HTTPAdapter

from worker.errors import (
    AuthError,
    NotFoundError,
    RateLimitedError,
    SourceError,
    TransientSourceError,
)
from worker.github.auth import AppInstallationAuth, TokenFetchError, make_auth, token_error
from worker.github.retry import (
    TRANSPORT_ERRORS,
    RateLimitView,
    RetryPolicy,
    read_rate_limit,
    utc_in,
)

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = "catalog-sync"
API_VERSION = "2022-11-28"
#: Redirects followed by hand (each one counted) before the last answer is returned as is.
MAX_REDIRECTS = 5


class _Counter:
    """A thread-safe request tally."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


class _Tally:
    """Counts one request on the client and, if given, on the caller's own tally."""

    def __init__(self, counter: _Counter, extra: Callable[[], None] | None) -> None:
        self._counter = counter
        self._extra = extra

    def add(self) -> None:
        self._counter.add()
        if self._extra is not None:
            self._extra()


@dataclass(frozen=True)
class _Call:
    """One logical request, as sent on each attempt and redirect hop."""

    method: str
    url: str
    params: Mapping[str, str | int] | None
    headers: Mapping[str, str] | None
    json: Any
    stream: bool
    follow_redirects: bool
    app_jwt: bool
    tally: _Tally


class GitHubClient:
    """GitHub's REST API for catalog-sync: counted, retried, rate-limit aware, secret-safe.

    One client per process (it caches the App installation token); `request()` takes an
    `on_request` callback so each reconcile can also count its own requests exactly.
    """

    def __init__(
        self,
        api_url: str = "https://api.github.com",
        *,
        token: str | None = None,
        app_id: str | int | None = None,
        private_key: str | None = None,
        installation_id: int | None = None,
        timeout: float = 30.0,
        rate_limit_max_wait: float = 60.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.rate_limit_max_wait = rate_limit_max_wait
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._counter = _Counter()
        self.rate_limit = RateLimitView()
        self._api_host = urllib.parse.urlsplit(self.api_url).netloc
        self._session = _session(user_agent)
        self._auth, pygithub_auth = make_auth(token, app_id, private_key, installation_id)
        # Retries are ours (counted); PyGithub must neither retry nor pace requests.
        self.github = Github(
            auth=pygithub_auth,
            base_url=self.api_url,
            timeout=max(1, round(timeout)),
            user_agent=user_agent,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> GitHubClient:
        """The client the settings describe: App auth when configured, else the token."""
        if settings.uses_github_app:
            assert settings.github_app_private_key is not None
            kwargs.update(
                app_id=settings.github_app_id,
                private_key=settings.github_app_private_key.get_secret_value(),
                installation_id=settings.github_app_installation_id,
            )
        elif settings.github_token is not None:
            kwargs["token"] = settings.github_token.get_secret_value()
        return cls(
            settings.github_api_url,
            timeout=settings.github_timeout_seconds,
            rate_limit_max_wait=settings.rate_limit_max_wait_seconds,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"GitHubClient({self.api_url!r}, requests={self.requests})"

    @property
    def requests(self) -> int:
        """Every HTTP request this client sent: retries, redirects, 304s, token refreshes."""
        return self._counter.value

    @property
    def uses_app(self) -> bool:
        return isinstance(self._auth, AppInstallationAuth)

    # The last `x-ratelimit-*` values (exposed as a metric, stored by runs).
    @property
    def rate_limit_limit(self) -> int | None:
        return self.rate_limit.limit

    @property
    def rate_limit_remaining(self) -> int | None:
        return self.rate_limit.remaining

    @property
    def rate_limit_reset(self) -> datetime | None:
        return self.rate_limit.reset

    def close(self) -> None:
        self._session.close()
        self.github.close()

    def pause(self, attempt: int) -> None:
        """Sleep the backoff before retry number `attempt + 1` (also for callers' streams)."""
        self._sleep(self.retry.backoff(attempt))

    # ------------------------------------------------------------------ requests

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        stream: bool = False,
        follow_redirects: bool = True,
        app_jwt: bool = False,
        on_request: Callable[[], None] | None = None,
        not_found: str | None = None,
        expect: tuple[int, ...] = (),
    ) -> Response:
        """Send one logical request, retried and rate-limit aware; return a 2xx/304 answer.

        `what` names the repository (or thing) for messages; `not_found` is the cause a 404
        means here ("no such branch"...). Statuses in `expect` are returned, not raised.
        """
        target = url if url.startswith(("http://", "https://")) else self.api_url + url
        tally = _Tally(self._counter, on_request)
        call = _Call(
            method, target, params, headers, json, stream, follow_redirects, app_jwt, tally
        )
        attempt = waits = 0
        while True:
            resp = self._attempt(call, what, attempt)
            if resp is None:  # no answer, or no token: worth another attempt
                self.pause(attempt)
                attempt += 1
                continue
            self.rate_limit.update(resp.headers)
            status = resp.status_code
            if status < 300 or status == 304 or status in expect:
                return resp
            wait = self._rate_limit_wait(resp, what)
            if wait is not None:
                self._wait_out(resp, wait, waits, what)
                waits += 1
                continue
            if status >= 500 and attempt + 1 < self.retry.attempts:
                resp.close()
                log.info("github.retrying", extra={"what": what, "status": status})
                self.pause(attempt)
                attempt += 1
                continue
            raise self._error(resp, what, not_found)

    def conditional_get(self, url: str, etag: str | None, *, what: str, **kwargs: Any) -> Response:
        """GET with `If-None-Match: etag`: a 304 (free of rate limit) means "unchanged"."""
        headers = dict(kwargs.pop("headers", None) or {})
        if etag:
            headers["If-None-Match"] = etag
        return self.request("GET", url, what=what, headers=headers, **kwargs)

    def get_json(self, url: str, *, what: str, **kwargs: Any) -> Any:
        """GET and decode JSON (see `request` for the keyword arguments)."""
        return self.request("GET", url, what=what, **kwargs).json()

    def _attempt(self, call: _Call, what: str, attempt: int) -> Response | None:
        """One attempt's answer; None for a failure worth retrying, raised on the last attempt."""
        last = attempt + 1 >= self.retry.attempts
        try:
            return self._send_following(call)
        except TokenFetchError as exc:
            if exc.status < 500 or last:
                raise token_error(exc.status, what) from None
        except TRANSPORT_ERRORS as exc:
            if last:
                raise TransientSourceError(
                    f"GitHub unreachable for {what}: {type(exc).__name__} "
                    f"after {attempt + 1} attempts"
                ) from None
            log.info("github.retrying", extra={"what": what, "error": type(exc).__name__})
        return None

    def _send_following(self, call: _Call) -> Response:
        """Send, following redirects by hand so each hop is counted and auth stays home."""
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._send(call)
            if not (call.follow_redirects and resp.is_redirect and "Location" in resp.headers):
                return resp
            url = urllib.parse.urljoin(call.url, resp.headers["Location"])
            resp.close()
            call = replace(call, method="GET", url=url, params=None, json=None)
        return resp

    def _send(self, call: _Call) -> Response:
        """Exactly one HTTP request (the adapter never retries), counted before it is sent."""
        sent = {"Accept": "application/vnd.github+json", **(call.headers or {})}
        if urllib.parse.urlsplit(call.url).netloc == self._api_host and self._auth is not None:
            sent["Authorization"] = self._auth.header(call.tally.add, app_jwt=call.app_jwt)
        call.tally.add()
        return self._session.request(
            call.method,
            call.url,
            params=call.params,
            headers=sent,
            json=call.json,
            stream=call.stream,
            timeout=self.timeout,
            allow_redirects=False,
        )

    # ------------------------------------------------------------------ rate limits

    def _rate_limit_wait(self, resp: Response, what: str) -> float | None:
        """Seconds to wait for a rate limit (None: not one); raise if beyond the bound."""
        limit = read_rate_limit(resp.status_code, resp.headers, lambda: _message(resp), time.time())
        if limit is None:
            return None
        if limit.wait > self.rate_limit_max_wait:
            raise limit.error(what)
        return limit.wait

    def _wait_out(self, resp: Response, wait: float, waits: int, what: str) -> None:
        """Sleep through a rate limit, unless this request already waited as often as allowed."""
        resp.close()
        if waits >= self.retry.rate_limit_waits:
            raise RateLimitedError(
                f"GitHub rate limit for {what} still spent after {waits} waits",
                reset_at=utc_in(wait),
            )
        log.warning("github.rate_limited", extra={"what": what, "wait_seconds": round(wait, 1)})
        self._sleep(wait)

    # ------------------------------------------------------------------ errors

    def _error(self, resp: Response, what: str, not_found: str | None) -> SourceError:
        status = resp.status_code
        message = _message(resp)
        resp.close()
        if status == 401:
            return AuthError(f"GitHub rejected the credentials for {what}: bad credentials (401)")
        if status == 403:
            return AuthError(f"GitHub refused access to {what}: no access (403: {message})")
        if status == 404:
            cause = not_found or "no such repository or no access"
            return NotFoundError(f"{what}: {cause} (GitHub answered 404)")
        if status >= 500:
            return TransientSourceError(
                f"GitHub answered {status} for {what} after {self.retry.attempts} attempts"
            )
        return SourceError(f"GitHub answered {status} for {what}: {message}")


def _session(user_agent: str) -> requests.Session:
    """A pooled session that never retries on its own and ignores the environment."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": user_agent, "X-GitHub-Api-Version": API_VERSION})
    session.trust_env = False  # no ~/.netrc auth, no proxies from the environment
    return session


def _message(resp: Response) -> str:
    """GitHub's `message` field, short (bodies never carry our credentials)."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    return str(body.get("message", ""))[:200] if isinstance(body, dict) else ""


def repo_path(full_name: str) -> str:
    """`/repos/owner/name`, quoted."""
    owner, _, name = full_name.partition("/")
    return f"/repos/{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}"
