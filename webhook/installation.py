"""`installation` and `installation_repositories` deliveries (a GitHub App): pure parsing.

Either one means the set of repositories the App can read may have changed, so the receiver
stores it and queues a discovery refresh. Only the fields the receiver logs are read; a body
without a numeric `installation.id` is malformed (400).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webhook.payload import PayloadError

INSTALLATION_EVENTS = frozenset({"installation", "installation_repositories"})


@dataclass(frozen=True)
class InstallationEvent:
    """What changed: the action, the installation, and the repositories it names."""

    action: str
    installation_id: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        item["full_name"]
        for item in value
        if isinstance(item, dict) and isinstance(item.get("full_name"), str)
    )


def installation_event(data: dict[str, Any]) -> InstallationEvent:
    """Validate the fields we use; `PayloadError` names the first bad one."""
    installation = data.get("installation")
    ident = installation.get("id") if isinstance(installation, dict) else None
    if not isinstance(ident, int) or isinstance(ident, bool) or ident <= 0:
        raise PayloadError("invalid_installation")
    action = data.get("action")
    if not isinstance(action, str) or not action or len(action) > 64:
        raise PayloadError("invalid_action")
    # `installation` (created/deleted) lists the repositories in `repositories`.
    listed = _names(data.get("repositories"))
    return InstallationEvent(
        action=action,
        installation_id=ident,
        added=_names(data.get("repositories_added")) or (listed if action == "created" else ()),
        removed=_names(data.get("repositories_removed")) or (listed if action == "deleted" else ()),
    )
