"""Every error catalog-sync raises on purpose derives from `CatalogSyncError`.

Each carries a `reason`: a short stable token (for metrics, `sync_runs.outcome` details and
scripts) beside the human message.
"""

from __future__ import annotations

from datetime import datetime


class CatalogSyncError(Exception):
    """Root of catalog-sync's own errors."""

    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(CatalogSyncError):
    """A setting is missing or malformed."""

    reason = "config"


class SourceError(CatalogSyncError):
    """The desired state could not be read (GitHub or a local folder)."""

    reason = "source"


class AuthError(SourceError):
    """Bad credentials or no access: retrying will not help."""

    reason = "auth"


class NotFoundError(SourceError):
    """No such repository or branch (or no access to it; GitHub answers 404 for both)."""

    reason = "not_found"


class TransientSourceError(SourceError):
    """5xx, timeout, connection reset: worth retrying later."""

    reason = "transient"


class RateLimitedError(SourceError):
    """GitHub's rate limit is spent until `reset_at`; the task is re-queued for then."""

    reason = "rate_limited"

    def __init__(self, message: str, *, reset_at: datetime) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class UnsafePlanError(CatalogSyncError):
    """A plan would delete too much; refused unless forced."""

    reason = "unsafe_plan"


class LockBusyError(CatalogSyncError):
    """Another reconcile of the same repository holds the lock."""

    reason = "lock_busy"


class BrokerUnavailableError(CatalogSyncError):
    """The message broker refused or timed out a publish; the delivery stays `pending`."""

    reason = "broker_unavailable"


class CommandError(CatalogSyncError):
    """An operator's command stops: the CLI prints the message as one line and exits with
    `exit_code` (the codes each command documents)."""

    reason = "command"

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class WebhookError(CatalogSyncError):
    """A delivery the receiver refuses; `reason` is the token in its answer and its log line."""

    reason = "webhook"

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or type(self).reason, reason=reason)


class BodyTooLarge(WebhookError):
    """The body is over `MAX_WEBHOOK_BYTES` (a 413)."""

    reason = "body_too_large"


class SignatureError(WebhookError):
    """The delivery's signature is missing, malformed or wrong (a 401); `reason` says which."""

    reason = "signature"


class PayloadError(WebhookError):
    """The body is malformed (a 400); `reason` names the first bad field."""

    reason = "invalid_payload"
