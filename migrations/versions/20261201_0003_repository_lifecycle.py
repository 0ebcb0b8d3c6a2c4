"""repository lifecycle: how a repository is watched, its state, and discovery listing pages

Revision ID: 0003_repository_lifecycle
Revises: 0002
Create Date: 2026-12-01 11:03:47.519292
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

revision: str = "0003_repository_lifecycle"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "discovery_pages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("listing", sa.String(length=200), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("next_url", sa.Text(), nullable=True),
        sa.Column("repositories", _JSON, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discovery_pages")),
        sa.UniqueConstraint("listing", "page", name=op.f("uq_discovery_pages_listing_page")),
    )
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("watch_source", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("discovered_via", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("state", sa.String(length=20), server_default="watched", nullable=False)
        )
        batch_op.add_column(sa.Column("state_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("unwatched_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("archived", sa.Boolean(), server_default=sa.text("(false)"), nullable=False)
        )
        batch_op.add_column(sa.Column("config_sha", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("config", _JSON, nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_repositories_state"), "state IN ('watched', 'unwatched', 'retired')"
        )
        batch_op.create_check_constraint(
            op.f("ck_repositories_watch_source"), "watch_source IN ('explicit', 'discovered')"
        )


def downgrade() -> None:
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_repositories_watch_source"), type_="check")
        batch_op.drop_constraint(op.f("ck_repositories_state"), type_="check")
        batch_op.drop_column("config")
        batch_op.drop_column("config_sha")
        batch_op.drop_column("archived")
        batch_op.drop_column("retired_at")
        batch_op.drop_column("unwatched_at")
        batch_op.drop_column("state_reason")
        batch_op.drop_column("state")
        batch_op.drop_column("discovered_via")
        batch_op.drop_column("watch_source")

    op.drop_table("discovery_pages")
