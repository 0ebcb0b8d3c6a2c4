"""What every command reads first: the settings, where a malformed one stops it (exit 2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from worker.errors import CommandError

if TYPE_CHECKING:
    from settings import Settings


def load_settings() -> Settings:
    """The process settings; a malformed entry is a `CommandError` that names it."""
    from settings import get_settings
    from worker.settings_errors import settings_error_line

    try:
        return get_settings()
    except ValidationError as exc:
        raise CommandError(settings_error_line(exc), 2) from exc
