"""Repository lifecycle vocabulary and the discovery listing cache.

A repository is `watched` while the settings (or discovery) name it, `unwatched` from the moment
they stop, and `retired` once its items were soft-deleted after the grace period. The listing
pages of discovery are kept with their ETags, so a refresh costs 304s, not rate limit.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.types import JSONType, UTCDateTime, utcnow


class WatchState(enum.StrEnum):
    """watched → unwatched (no longer named) → retired (items soft-deleted); any → watched."""

    WATCHED = "watched"
    UNWATCHED = "unwatched"
    RETIRED = "retired"


class WatchSource(enum.StrEnum):
    """How a repository came to be watched: named in `CATALOG_REPOS`, or found by discovery."""

    EXPLICIT = "explicit"
    DISCOVERED = "discovered"


class DiscoveryPage(Base):
    """One page of a repository listing (`org:acme`, `user:bob`, `installation`), with its ETag."""

    __tablename__ = "discovery_pages"
    __table_args__ = (UniqueConstraint("listing", "page"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    listing: Mapped[str] = mapped_column(String(200), nullable=False)
    page: Mapped[int] = mapped_column(Integer, nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    etag: Mapped[str | None] = mapped_column(String(200))
    next_url: Mapped[str | None] = mapped_column(Text)
    #: The page's repositories, reduced to what discovery reads (name, branch, topics, archived).
    repositories: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONType, nullable=False, default=list
    )
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
