"""item changes: the change feed (`catalog_item_changes`)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:34:20.999955
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_item_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("git_path", sa.String(length=1024), nullable=False),
        sa.Column("old_git_path", sa.String(length=1024), nullable=True),
        sa.Column("old_blob_sha", sa.String(length=40), nullable=True),
        sa.Column("new_blob_sha", sa.String(length=40), nullable=True),
        sa.Column("commit_sha", sa.String(length=40), nullable=True),
        sa.Column("author_login", sa.String(length=255), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sync_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('added', 'updated', 'moved', 'deleted', 'restored', 'retired')",
            name=op.f("ck_catalog_item_changes_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_catalog_item_changes_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sync_run_id"],
            ["sync_runs.id"],
            name=op.f("fk_catalog_item_changes_sync_run_id_sync_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_item_changes")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("catalog_item_changes", schema=None) as batch_op:
        batch_op.create_index("ix_catalog_item_changes_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_catalog_item_changes_item_id_id", ["item_id", "id"], unique=False)
        batch_op.create_index(
            "ix_catalog_item_changes_repository_id_id", ["repository_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("catalog_item_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_item_changes_repository_id_id")
        batch_op.drop_index("ix_catalog_item_changes_item_id_id")
        batch_op.drop_index("ix_catalog_item_changes_created_at")

    op.drop_table("catalog_item_changes")
