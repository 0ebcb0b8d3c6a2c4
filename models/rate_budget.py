"""The shared rate-limit reserve: one row per GitHub credentials, read by every worker."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.types import UTCDateTime


class RateBudget(Base):
    """When `remaining` fell under the reserve, polls wait until `deferred_until` (the reset).

    Shared through the database so that every worker process defers, not only the one that
    saw the low figure.
    """

    __tablename__ = "rate_budget"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    remaining: Mapped[int | None] = mapped_column(Integer)
    deferred_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
