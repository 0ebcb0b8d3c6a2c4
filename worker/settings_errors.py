"""Settings errors as the one line an operator sees: which variable, which value, what is allowed.

Built from the declared types and bounds of `settings.Settings`, so a new bound explains
itself; credentials and URLs (which may hold them) are never quoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import annotated_types
from pydantic import ValidationError

from settings import Settings, shown

#: Settings whose value an error line never quotes (credentials, or URLs that may hold them).
_HIDDEN = frozenset(
    {
        "database_url",
        "celery_broker_url",
        "github_token",
        "github_app_private_key",
        "github_webhook_secret",
    }
)
_BOUND_WORDS = (
    (annotated_types.Gt, "gt", "more than"),
    (annotated_types.Ge, "ge", "at least"),
    (annotated_types.Lt, "lt", "less than"),
    (annotated_types.Le, "le", "at most"),
)


def allowed(field: str) -> str:
    """What a setting accepts, from its declared type and bounds: 'a whole number, at least 1
    and at most 1000'."""
    info = Settings.model_fields[field]
    annotation = str(info.annotation)
    kind = "a whole number" if "int" in annotation else "a finite number"
    if "int" not in annotation and "float" not in annotation:
        kind = "text"
    bounds = [
        f"{words} {_number(getattr(meta, attr))}"
        for meta in info.metadata
        for bound, attr, words in _BOUND_WORDS
        if isinstance(meta, bound)
    ]
    return f"{kind}, {' and '.join(bounds)}" if bounds else kind


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _error_text(error: Mapping[str, Any]) -> str:
    """One validation error as `VARIABLE='value': reason (allowed: ...)`."""
    if error["type"] == "value_error":  # our validators' messages name the entry already
        return str(error["ctx"]["error"])
    field = str(error["loc"][0]) if error.get("loc") else ""
    if field not in Settings.model_fields:
        return str(error["msg"])
    subject = field.upper()
    if field not in _HIDDEN:
        subject += f"={shown(error.get('input'))}"
    reason = str(error["msg"])
    return f"{subject}: {reason[:1].lower()}{reason[1:]} (allowed: {allowed(field)})"


def settings_error_line(exc: ValidationError) -> str:
    """A settings ValidationError as the one line an operator sees (no traceback)."""
    texts = list(dict.fromkeys(_error_text(e) for e in exc.errors()))
    return ("invalid setting: " if len(texts) == 1 else "invalid settings: ") + "; ".join(texts)
