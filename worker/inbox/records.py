"""A stored delivery as the inbox hands it out, and its one JSON shape.

Detached from any session, so the CLI and the tasks can read it after the transaction ends.
Not GitHub's view of a send (`worker.github.redelivery.HookDelivery`): this is our row.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from models import WebhookDelivery


@dataclass(frozen=True)
class DeliveryRecord:
    """One `webhook_deliveries` row, read."""

    delivery_id: str
    event: str
    status: str
    repository_full_name: str | None
    ref: str | None
    before_sha: str | None
    after_sha: str | None
    forced: bool
    hook_id: int | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    received_at: datetime
    queued_at: datetime | None
    processed_at: datetime | None

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryRecord:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def delivery_as_json(record: DeliveryRecord) -> dict[str, Any]:
    """JSON-ready (the CLI's `deliveries --json`): timestamps as ISO 8601, and `repository`
    beside `repository_full_name`, the name every CLI document uses."""
    out: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    out["repository"] = record.repository_full_name
    return out
