"""The one door to GitHub: auth, request counting, retries, rate limits and error mapping.

PyGithub builds the `Github` object (and, for a GitHub App, keeps the installation token fresh),
but it cannot send `If-None-Match` and surface a 304, stream a tarball with bounded memory, or
count its own retries. So every request catalog-sync makes goes through `GitHubClient.request`,
on a `requests.Session` that carries the same auth header: one place counts each HTTP request
(retries, redirects and 304s included), retries 5xx/timeouts/resets with jittered exponential
backoff, waits out rate limits within a bound, and turns 401/404 into clear errors.

Secrets never leave this module: the token is only ever put in a request header; messages name
the repository, the status and the cause, never a header or a query string.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import requests
from github import Auth, Github, GithubException
from requests import Response
from requests.adapters import HTTPAdapter

from worker.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    RateLimitedError,
    SourceError,
    TransientSourceError,
)

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = "catalog-sync"
API_VERSION = "2022-11-28"
_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` in all per request, full-jitter backoff from `base_delay`."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    rate_limit_waits: int = 3

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)] (AWS's recommendation)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


class _TokenAuth:
    """A fixed token (a PAT or a fine-grained token)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def header(self, count: Callable[[], None]) -> str:
        return f"token {self._token}"

    def __repr__(self) -> str:
        return "_TokenAuth(<hidden>)"


class _AppInstallationAuth:
    """A GitHub App installation: PyGithub mints the token and refreshes it before expiry.

    PyGithub fetches a new token lazily, inside `.token`; we count that request by noticing the
    token changed (GitHub never issues the same token twice), or by the fetch failing.
    """

    def __init__(self, auth: Auth.AppInstallationAuth, app: Auth.AppAuth) -> None:
        self.installation = auth
        self.app = app
        self._last: str | None = None
        self._lock = threading.Lock()

    def header(self, count: Callable[[], None]) -> str:
        with self._lock:
            try:
                token = self.installation.token
            except GithubException as exc:
                count()
                raise _TokenFetchError(exc.status) from None
            except _TRANSPORT_ERRORS:
                count()
                raise
            if token != self._last:
                count()
                self._last = token
            return f"token {token}"

    def app_jwt(self) -> str:
        """A fresh App JWT, for `/app/...` endpoints (App webhook deliveries)."""
        return f"Bearer {self.app.create_jwt()}"

    def __repr__(self) -> str:
        return "_AppInstallationAuth(<hidden>)"


class _TokenFetchError(Exception):
    """Minting an installation token failed with this HTTP status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Counter:
    """A thread-safe request tally."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


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
        #: Last seen `x-ratelimit-*` values (None until the first answer carrying them).
        self.rate_limit_limit: int | None = None
        self.rate_limit_remaining: int | None = None
        self.rate_limit_reset: datetime | None = None
        self._api_host = urllib.parse.urlsplit(self.api_url).netloc
        self._session = requests.Session()
        adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=16)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {"User-Agent": user_agent, "X-GitHub-Api-Version": API_VERSION}
        )
        self._session.trust_env = False  # no ~/.netrc auth, no proxies from the environment
        self._auth: _TokenAuth | _AppInstallationAuth | None
        pygithub_auth: Auth.Auth | None
        if app_id and private_key and installation_id:
            app = Auth.AppAuth(app_id, private_key)
            installation = app.get_installation_auth(int(installation_id))
            self._auth = _AppInstallationAuth(installation, app)
            pygithub_auth = installation
        elif token:
            self._auth = _TokenAuth(token)
            pygithub_auth = Auth.Token(token)
        else:
            self._auth, pygithub_auth = None, None
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
        return isinstance(self._auth, _AppInstallationAuth)

    def close(self) -> None:
        self._session.close()
        self.github.close()

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
        counter = _Tally(self._counter, on_request)
        target = url if url.startswith(("http://", "https://")) else self.api_url + url
        attempt = waits = 0
        while True:
            try:
                resp = self._send_following(
                    method,
                    target,
                    params,
                    headers,
                    json,
                    stream,
                    follow_redirects,
                    app_jwt,
                    counter,
                )
            except _TokenFetchError as exc:
                if exc.status < 500 or attempt + 1 >= self.retry.attempts:
                    raise self._token_error(exc.status, what) from None
                self._sleep(self.retry.backoff(attempt))
                attempt += 1
                continue
            except _TRANSPORT_ERRORS as exc:
                if attempt + 1 >= self.retry.attempts:
                    raise TransientSourceError(
                        f"GitHub unreachable for {what}: {type(exc).__name__} "
                        f"after {attempt + 1} attempts"
                    ) from None
                log.info("GitHub %s for %s; retrying", type(exc).__name__, what)
                self._sleep(self.retry.backoff(attempt))
                attempt += 1
                continue
            self._track_rate_limit(resp)
            status = resp.status_code
            if status < 300 or status == 304 or status in expect:
                return resp
            wait = self._rate_limit_wait(resp, what)
            if wait is not None:
                resp.close()
                if waits >= self.retry.rate_limit_waits:
                    raise RateLimitedError(
                        f"GitHub rate limit for {what} still spent after {waits} waits",
                        reset_at=_utc_in(wait),
                    )
                log.warning("GitHub rate limit for %s: waiting %.1fs", what, wait)
                self._sleep(wait)
                waits += 1
                continue
            if status >= 500 and attempt + 1 < self.retry.attempts:
                resp.close()
                log.info("GitHub answered %s for %s; retrying", status, what)
                self._sleep(self.retry.backoff(attempt))
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

    def _send_following(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int] | None,
        headers: Mapping[str, str] | None,
        json: Any,
        stream: bool,
        follow: bool,
        app_jwt: bool,
        counter: _Tally,
    ) -> Response:
        """Send, following up to 5 redirects by hand so each hop is counted and auth stays home."""
        for _ in range(6):
            resp = self._send(method, url, params, headers, json, stream, app_jwt, counter)
            if not (follow and resp.is_redirect and "Location" in resp.headers):
                return resp
            url = urllib.parse.urljoin(url, resp.headers["Location"])
            resp.close()
            method, params, json = "GET", None, None
        return resp

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int] | None,
        headers: Mapping[str, str] | None,
        json: Any,
        stream: bool,
        app_jwt: bool,
        counter: _Tally,
    ) -> Response:
        """Exactly one HTTP request (the adapter never retries), counted before it is sent."""
        sent = {"Accept": "application/vnd.github+json", **(headers or {})}
        if urllib.parse.urlsplit(url).netloc == self._api_host and self._auth is not None:
            if app_jwt:
                if not isinstance(self._auth, _AppInstallationAuth):
                    raise ConfigError("this GitHub endpoint needs GitHub App credentials")
                sent["Authorization"] = self._auth.app_jwt()
            else:
                sent["Authorization"] = self._auth.header(counter.add)
        counter.add()
        return self._session.request(
            method,
            url,
            params=params,
            headers=sent,
            json=json,
            stream=stream,
            timeout=self.timeout,
            allow_redirects=False,
        )

    # ------------------------------------------------------------------ rate limits

    def _track_rate_limit(self, resp: Response) -> None:
        """Remember the last `x-ratelimit-*` values (exposed as a metric, stored by runs)."""
        h = resp.headers
        if h.get("x-ratelimit-remaining", "").isdigit():
            self.rate_limit_remaining = int(h["x-ratelimit-remaining"])
        if h.get("x-ratelimit-limit", "").isdigit():
            self.rate_limit_limit = int(h["x-ratelimit-limit"])
        if h.get("x-ratelimit-reset", "").isdigit():
            self.rate_limit_reset = datetime.fromtimestamp(int(h["x-ratelimit-reset"]), UTC)

    def _rate_limit_wait(self, resp: Response, what: str) -> float | None:
        """Seconds to wait for a rate limit (None: not one); raise if beyond the bound."""
        if resp.status_code not in (403, 429):
            return None
        h = resp.headers
        retry_after = h.get("Retry-After", "")
        if retry_after.isdigit():
            wait = float(retry_after)
            kind = "secondary rate limit"
        elif h.get("x-ratelimit-remaining") == "0" and h.get("x-ratelimit-reset", "").isdigit():
            wait = max(0.0, int(h["x-ratelimit-reset"]) - time.time()) + 0.25
            kind = "rate limit"
        elif resp.status_code == 429 or "secondary rate limit" in _message(resp).lower():
            wait = 60.0  # GitHub: "wait at least one minute" when it gives no Retry-After
            kind = "secondary rate limit"
        else:
            return None
        if wait > self.rate_limit_max_wait:
            reset_at = _utc_in(wait)
            raise RateLimitedError(
                f"GitHub {kind} reached for {what}; resets at {reset_at:%Y-%m-%d %H:%M:%S} UTC",
                reset_at=reset_at,
            )
        return wait

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

    def _token_error(self, status: int, what: str) -> SourceError:
        if status >= 500:
            return TransientSourceError(f"GitHub App token for {what}: GitHub answered {status}")
        return AuthError(
            f"GitHub App authentication failed for {what}: bad credentials "
            f"(app id, private key or installation id; GitHub answered {status})"
        )


class _Tally:
    """Counts one request on the client and, if given, on the caller's own tally."""

    def __init__(self, counter: _Counter, extra: Callable[[], None] | None) -> None:
        self._counter = counter
        self._extra = extra

    def add(self) -> None:
        self._counter.add()
        if self._extra is not None:
            self._extra()


def _message(resp: Response) -> str:
    """GitHub's `message` field, short (bodies never carry our credentials)."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    return str(body.get("message", ""))[:200] if isinstance(body, dict) else ""


def _utc_in(seconds: float) -> datetime:
    return datetime.fromtimestamp(time.time() + seconds, UTC)


def repo_path(full_name: str) -> str:
    """`/repos/owner/name`, quoted."""
    owner, _, name = full_name.partition("/")
    return f"/repos/{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}"
