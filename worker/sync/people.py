"""The people items name: users by GitHub login and teams by name, created when missing.

An item's `author` and `team` are looked up in the seed tables `users` and `teams`; a login
or team seen for the first time gets a row (users with `LOGIN@users.noreply.github.com`),
race-safe against a concurrent reconcile creating the same one.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Team, User
from models.db import insert_ignoring_conflicts

#: Keys per `IN (...)` lookup: keeps every statement well under the drivers' parameter limits.
_LOOKUP_CHUNK = 1000


def resolve_people(
    session: Session, logins: set[str], team_names: set[str]
) -> tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]]:
    """Ids of users by login and teams by name, creating the missing ones (race-safe)."""
    users = _ids(session, User, User.username, logins)
    missing = sorted(logins - users.keys())
    insert_ignoring_conflicts(
        session,
        User,
        [
            {"id": uuid.uuid4(), "username": login, "email": f"{login}@users.noreply.github.com"}
            for login in missing
        ],
    )
    users.update(_ids(session, User, User.username, set(missing)))
    teams = _ids(session, Team, Team.name, team_names)
    missing_teams = sorted(team_names - teams.keys())
    insert_ignoring_conflicts(
        session, Team, [{"id": uuid.uuid4(), "name": name} for name in missing_teams]
    )
    teams.update(_ids(session, Team, Team.name, set(missing_teams)))
    return users, teams


def _ids(session: Session, model: Any, column: Any, keys: set[str]) -> dict[str, uuid.UUID]:
    found: dict[str, uuid.UUID] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        chunk = ordered[start : start + _LOOKUP_CHUNK]
        for key, ident in session.execute(select(column, model.id).where(column.in_(chunk))):
            found[key] = ident
    return found
