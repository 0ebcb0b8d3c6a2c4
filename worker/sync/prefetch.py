"""Run an iterator ahead in a thread, a few items at most, so reading overlaps writing.

A cold reconcile reads and parses batches of files (network, gunzip, YAML) and writes them
(COPY, index upkeep in PostgreSQL). Done one after the other, each waits for the other;
with the reading in a thread, the database works on one batch while the next is read:
psycopg2, zlib and socket reads release the GIL. The queue is bounded, so memory still holds
only a few batches, and an error on either side stops both.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

#: How long a blocked producer waits before checking whether the consumer has gone.
_POLL_SECONDS = 0.1


class _End:
    """The producer's last message: the error it stopped on, or None at the natural end."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


@contextmanager
def prefetched(items: Iterable[T], depth: int = 2) -> Iterator[Iterator[T]]:
    """`items`, produced in a thread at most `depth` ahead of the consumer.

    The producer's exception is raised in the consumer where the item would have been.
    Leaving the block (normally or by an exception) stops the producer after the item it is
    on and waits for it, so the source is closed before the caller goes on.
    """
    handoff: queue.Queue[T | _End] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(message: T | _End) -> bool:
        while not stop.is_set():
            try:
                handoff.put(message, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_End(None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(_End(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[T]:
        while True:
            message = handoff.get()
            if isinstance(message, _End):
                if message.error is not None:
                    raise message.error
                return
            yield message

    thread = threading.Thread(target=produce, name="catalog-sync-prefetch", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()
