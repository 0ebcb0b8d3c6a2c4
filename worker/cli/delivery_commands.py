"""`deliveries` and `redeliver`: inspect and replay the stored webhook deliveries."""

from __future__ import annotations

import click

from worker.cli.render import deliveries_table, delivery_doc, emit_json, err, out


@click.command()
@click.option("--status", "status_", help="pending, queued, processing, done, failed or dead.")
@click.option("--limit", default=100, show_default=True, help="Newest first, at most this many.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def deliveries(status_: str | None, limit: int, as_json: bool) -> None:
    """Stored webhook deliveries, newest first."""
    from worker import composition
    from worker.inbox.queries import list_deliveries

    rows = list_deliveries(composition.engine(), status=status_, limit=limit)
    docs = [delivery_doc(d) for d in rows]
    if as_json:
        emit_json({"deliveries": docs})
        return
    out.print(deliveries_table(docs))


@click.command()
@click.argument("delivery_id")
def redeliver(delivery_id: str) -> None:
    """Re-queue a stored delivery (its repository is reconciled again)."""
    from worker import composition
    from worker.inbox.queries import redeliver as redeliver_delivery

    record = redeliver_delivery(
        composition.engine(), delivery_id, composition.publisher().enqueue_reconcile
    )
    if record.status == "pending":
        err.print(
            f"{delivery_id}: stored as pending; the broker is down, the sweeper will queue it"
        )
        return
    out.print(f"{delivery_id}: re-queued")


COMMANDS = (deliveries, redeliver)
