"""Who catalog-sync is to GitHub: a fixed token, or a GitHub App installation.

PyGithub mints an App's installation token and refreshes it before it expires; this module
puts that token (or the fixed one) into the `Authorization` header of our own requests and
counts the token fetches PyGithub makes on the way. Secrets stay here: the objects' reprs hide
them and errors name the cause, never the key or the token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from github import Auth, GithubException

from worker.errors import (
    AuthError,
    CatalogSyncError,
    ConfigError,
    SourceError,
    TransientSourceError,
)
from worker.github.retry import TRANSPORT_ERRORS


class TokenFetchError(CatalogSyncError):
    """Minting an installation token failed with this HTTP status (mapped by `token_error`)."""

    reason = "token_fetch"

    def __init__(self, status: int) -> None:
        super().__init__(f"GitHub App installation token: GitHub answered {status}")
        self.status = status


class TokenAuth:
    """A fixed token (a PAT or a fine-grained token)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def header(self, count: Callable[[], None], *, app_jwt: bool = False) -> str:
        """The `Authorization` value; `/app/...` endpoints need an App, not a token."""
        if app_jwt:
            raise ConfigError("this GitHub endpoint needs GitHub App credentials")
        return f"token {self._token}"

    def __repr__(self) -> str:
        return "TokenAuth(<hidden>)"


class AppInstallationAuth:
    """A GitHub App installation: PyGithub mints the token and refreshes it before expiry.

    PyGithub fetches a new token lazily, inside `.token`; we count that request by noticing the
    token changed (GitHub never issues the same token twice), or by the fetch failing.
    """

    def __init__(self, auth: Auth.AppInstallationAuth, app: Auth.AppAuth) -> None:
        self.installation = auth
        self.app = app
        self._last: str | None = None
        self._lock = threading.Lock()

    def header(self, count: Callable[[], None], *, app_jwt: bool = False) -> str:
        """The installation token, or with `app_jwt` a fresh App JWT (for `/app/...`)."""
        if app_jwt:
            return f"Bearer {self.app.create_jwt()}"
        with self._lock:
            try:
                token = self.installation.token
            except GithubException as exc:
                count()
                raise TokenFetchError(exc.status) from None
            except TRANSPORT_ERRORS:
                count()
                raise
            if token != self._last:
                count()
                self._last = token
            return f"token {token}"

    def __repr__(self) -> str:
        return "AppInstallationAuth(<hidden>)"


ClientAuth = TokenAuth | AppInstallationAuth


def make_auth(
    token: str | None,
    app_id: str | int | None,
    private_key: str | None,
    installation_id: int | None,
) -> tuple[ClientAuth | None, Auth.Auth | None]:
    """Our header source and PyGithub's auth for the same identity: the App when fully
    configured, else the token, else anonymous (None, None)."""
    if app_id and private_key and installation_id:
        app = Auth.AppAuth(app_id, private_key)
        installation = app.get_installation_auth(int(installation_id))
        return AppInstallationAuth(installation, app), installation
    if token:
        return TokenAuth(token), Auth.Token(token)
    return None, None


def token_error(status: int, what: str) -> SourceError:
    """What a failed installation token fetch means to the caller."""
    if status >= 500:
        return TransientSourceError(f"GitHub App token for {what}: GitHub answered {status}")
    return AuthError(
        f"GitHub App authentication failed for {what}: bad credentials "
        f"(app id, private key or installation id; GitHub answered {status})"
    )
