"""Upkeep of the embedded broker (kombu's SQL transport), which never deletes a message.

The transport marks a delivered message invisible and keeps the row; acks and restores do not
touch it (a restore writes a new row). Left alone, `catalog-sync-broker.sqlite` grows by one row
per task for ever, a poll a minute included. The sweeper removes delivered rows once they are
older than any task can run: nothing reads them again.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from sqlalchemy import Engine, create_engine, inspect, text

from worker.celery_app import is_sql_broker
from worker.tasknames import TASK_TIME_LIMIT_S

#: Delivered messages younger than this are kept (twice the hard task time limit).
KEEP_DELIVERED_S = 2.0 * TASK_TIME_LIMIT_S
#: Rows per delete transaction, and transactions per sweep (the rest waits for the next one).
PURGE_BATCH = 1000
MAX_BATCHES = 100


@functools.cache
def _engine(database_url: str) -> Engine:
    return create_engine(database_url, connect_args={"timeout": 30}, pool_size=1)


def purge_delivered(
    broker_url: str, older_than_s: float = KEEP_DELIVERED_S, batch: int = PURGE_BATCH
) -> int:
    """Delete the embedded broker's delivered messages older than `older_than_s`; the count.

    A no-op (0) on any other broker. kombu stamps messages in local time, without a zone.
    Deleted in short transactions of `batch` rows, so a first purge of a long backlog never
    holds SQLite's write lock long enough to make a publish wait.
    """
    database_url = broker_url.partition("+")[2]
    if not is_sql_broker(broker_url) or not database_url.startswith("sqlite"):
        return 0
    engine = _engine(database_url)
    cutoff = datetime.now() - timedelta(seconds=older_than_s)
    with engine.connect() as conn:
        if not inspect(conn).has_table("kombu_message"):
            return 0
    deleted = 0
    for _ in range(MAX_BATCHES):
        with engine.begin() as conn:
            result = conn.execute(
                text(
                    "DELETE FROM kombu_message WHERE id IN (SELECT id FROM kombu_message"
                    ' WHERE visible = :no AND "timestamp" < :cutoff LIMIT :batch)'
                ),
                {"no": False, "cutoff": cutoff, "batch": batch},
            )
        count = int(result.rowcount or 0)
        deleted += count
        if count < batch:
            break
    return deleted
