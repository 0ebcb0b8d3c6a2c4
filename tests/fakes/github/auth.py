"""Who a request acts as: tokens (some expiring), and the GitHub App's RS256 JWTs.

GitHub answers 401 for an unknown or expired token and for a JWT that does not verify, is
issued by another App, or lives longer than ten minutes; the fake does the same.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import jwt

from tests.fakes.github.api import HttpError

#: The longest App JWT GitHub accepts (10 minutes), with its 60 s of clock-drift leeway.
MAX_JWT_SECONDS = 660


@dataclass
class Token:
    login: str
    expires_at: float | None = None


@dataclass
class App:
    """A registered GitHub App, installed on every repository as `installation_id`."""

    app_id: str
    public_key: str
    installation_id: int
    token_ttl: float
    tokens_issued: int = 0


class Credentials:
    """The fake's tokens and App (a part of `FakeGitHub`)."""

    def __init__(self, token: str, login: str, allow_anonymous: bool) -> None:
        self.token = token
        self.login = login
        self.tokens: dict[str, Token] = {token: Token(login)}
        self.allow_anonymous = allow_anonymous
        self.app: App | None = None
        self._tokens_lock = threading.Lock()

    def add_token(self, token: str, login: str = "someone", *, ttl: float | None = None) -> None:
        with self._tokens_lock:
            self.tokens[token] = Token(login, time.time() + ttl if ttl is not None else None)

    def revoke_token(self, token: str) -> None:
        with self._tokens_lock:
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

    def identity(self, authorization: str | None) -> str | None:
        """The login a token acts as; raises 401 for unknown or expired tokens."""
        if not authorization:
            if self.allow_anonymous:
                return None
            raise HttpError(401, "Requires authentication")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            raise HttpError(401, "Bad credentials")
        with self._tokens_lock:
            tok = self.tokens.get(value.strip())
        if tok is None or (tok.expires_at is not None and time.time() >= tok.expires_at):
            raise HttpError(401, "Bad credentials")
        return tok.login

    def verify_app_jwt(self, authorization: str | None) -> App:
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
        if claims["exp"] - claims["iat"] > MAX_JWT_SECONDS:
            raise HttpError(401, "Expiration time' claim ('exp') is too far in the future")
        return self.app


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
