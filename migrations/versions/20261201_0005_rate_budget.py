"""rate budget: the shared rate-limit reserve polls defer on

Revision ID: 0005_rate_budget
Revises: 0004_feedback
Create Date: 2026-12-01 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_rate_budget"
down_revision: str | None = "0004_feedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_budget",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=True),
        sa.Column("deferred_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("rate_budget")
