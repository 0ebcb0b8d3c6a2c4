"""Every table of catalog-sync: the seed tables and the sync bookkeeping tables."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.lifecycle import WatchSource, WatchState
from models.types import JSONType, UTCDateTime, utcnow


class ItemType(enum.StrEnum):
    SKILL = "skill"
    MCP = "mcp"
    TOOL = "tool"


class DeliveryStatus(enum.StrEnum):
    """A webhook delivery's life: pending → queued → processing → done | failed | dead."""

    PENDING = "pending"
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    DEAD = "dead"


class ChangeKind(enum.StrEnum):
    """What happened to an item, as `catalog_item_changes` records it."""

    ADDED = "added"
    UPDATED = "updated"
    MOVED = "moved"
    DELETED = "deleted"
    RESTORED = "restored"
    RETIRED = "retired"


class RunOutcome(enum.StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    NOOP = "noop"
    FAILED = "failed"
    REFUSED = "refused"
    SKIPPED = "skipped"


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


def _updated() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


def _enum_check(column: str, values: type[enum.StrEnum], name: str) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name)


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    username: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class UserTeamLink(Base):
    __tablename__ = "user_team_links"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(
        String(50), nullable=False, default="member", server_default="member"
    )
    joined_at: Mapped[datetime] = _created()


class Repository(Base):
    """A watched repository and its sync state (what `status` shows)."""

    __tablename__ = "repositories"
    __table_args__ = (
        _enum_check("state", WatchState, "state"),
        _enum_check("watch_source", WatchSource, "watch_source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    full_name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    branch: Mapped[str | None] = mapped_column(String(255))
    last_synced_sha: Mapped[str | None] = mapped_column(String(40))
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    head_sha: Mapped[str | None] = mapped_column(String(40))
    head_etag: Mapped[str | None] = mapped_column(String(200))
    head_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dirty: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hook_id: Mapped[int | None] = mapped_column(BigInteger)
    rate_limit_remaining: Mapped[int | None] = mapped_column(Integer)
    rate_limit_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Lifecycle (see models.lifecycle); `watch_source` NULL: created by hand, never managed.
    watch_source: Mapped[str | None] = mapped_column(String(20))
    discovered_via: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(
        String(20), nullable=False, default=WatchState.WATCHED.value, server_default="watched"
    )
    state_reason: Mapped[str | None] = mapped_column(Text)
    unwatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    archived: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    # `.catalog-sync.yml`: its blob SHA and what it said, read again only when the SHA changes.
    config_sha: Mapped[str | None] = mapped_column(String(40))
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class CatalogItem(Base):
    """One skill, MCP server or tool; written only by a reconcile."""

    __tablename__ = "catalog_items"
    __table_args__ = (
        UniqueConstraint("repository_id", "git_path"),
        _enum_check("type", ItemType, "type"),
        Index("ix_catalog_items_repository_id_blob_sha", "repository_id", "blob_sha"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    type: Mapped[ItemType] = mapped_column(
        Enum(
            ItemType,
            native_enum=False,
            create_constraint=False,
            length=10,
            values_callable=lambda e: [m.value for m in e],
        ),
        nullable=False,
        index=True,
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    description: Mapped[str | None] = mapped_column(Text)
    git_path: Mapped[str] = mapped_column(String(1024), nullable=False)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id"))
    tags: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    usage_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False
    )
    blob_sha: Mapped[str] = mapped_column(String(40), nullable=False)
    commit_sha: Mapped[str | None] = mapped_column(String(40))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, nullable=False, default=dict)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """A GitHub delivery, stored before the receiver answers 2xx: the durable inbox."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        _enum_check("status", DeliveryStatus, "status"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    event: Mapped[str] = mapped_column(String(100), nullable=False)
    repository_full_name: Mapped[str | None] = mapped_column(String(200), index=True)
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="SET NULL")
    )
    ref: Mapped[str | None] = mapped_column(String(255))
    before_sha: Mapped[str | None] = mapped_column(String(40))
    after_sha: Mapped[str | None] = mapped_column(String(40))
    forced: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    hook_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, default=DeliveryStatus.PENDING.value
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = _created()
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = _updated()


class SyncRun(Base):
    """One reconcile: what triggered it, what it changed, what it cost, how it ended."""

    __tablename__ = "sync_runs"
    __table_args__ = (_enum_check("outcome", RunOutcome, "outcome"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False, index=True
    )
    trigger: Mapped[str] = mapped_column(String(50), nullable=False)
    full: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    from_sha: Mapped[str | None] = mapped_column(String(40))
    to_sha: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(
        String(20), nullable=False, default=RunOutcome.RUNNING.value
    )
    added: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    updated: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    moved: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    deleted: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    restored: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    errors: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    github_requests: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class CatalogFileError(Base):
    """A catalog file that could not be parsed; cleared when it parses again or goes away."""

    __tablename__ = "catalog_file_errors"
    __table_args__ = (UniqueConstraint("repository_id", "git_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False
    )
    git_path: Mapped[str] = mapped_column(String(1024), nullable=False)
    blob_sha: Mapped[str] = mapped_column(String(40), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    commit_sha: Mapped[str | None] = mapped_column(String(40))
    first_seen_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = _updated()


class CatalogItemChange(Base):
    """One change of one item, written in the transaction that made it (the change feed).

    `id` is the readers' cursor: writers take a lock before allocating ids and hold it to
    commit, so ids become visible in increasing order and a reader never skips one. SQLite's
    AUTOINCREMENT keeps ids from being reused once retention has pruned the newest rows.
    """

    __tablename__ = "catalog_item_changes"
    __table_args__ = (
        _enum_check("kind", ChangeKind, "kind"),
        Index("ix_catalog_item_changes_repository_id_id", "repository_id", "id"),
        Index("ix_catalog_item_changes_item_id_id", "item_id", "id"),
        Index("ix_catalog_item_changes_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True
    )
    item_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    git_path: Mapped[str] = mapped_column(String(1024), nullable=False)
    old_git_path: Mapped[str | None] = mapped_column(String(1024))
    old_blob_sha: Mapped[str | None] = mapped_column(String(40))
    new_blob_sha: Mapped[str | None] = mapped_column(String(40))
    commit_sha: Mapped[str | None] = mapped_column(String(40))
    author_login: Mapped[str | None] = mapped_column(String(255))
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sync_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
