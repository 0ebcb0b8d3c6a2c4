"""The prefetching iterator: same items in order, errors where they happened, no leftovers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from worker.sync.prefetch import prefetched


def test_items_arrive_in_order_and_the_producer_runs_ahead_in_a_thread() -> None:
    threads: set[str] = set()

    def produce() -> Iterator[int]:
        for i in range(50):
            threads.add(threading.current_thread().name)
            yield i

    with prefetched(produce(), depth=3) as items:
        assert list(items) == list(range(50))
    assert threads == {"catalog-sync-prefetch"}


def test_a_producer_error_is_raised_in_the_consumer_after_the_items_before_it() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("broken tarball")

    got = []
    with pytest.raises(ValueError, match="broken tarball"), prefetched(produce()) as items:
        for item in items:
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_and_closes_the_producer() -> None:
    closed = threading.Event()

    def produce() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    with pytest.raises(RuntimeError), prefetched(produce(), depth=2) as items:
        for item in items:
            if item == 5:
                raise RuntimeError("the write failed")
    assert closed.is_set()  # the source was closed before the block was left
    assert not any(t.name == "catalog-sync-prefetch" for t in threading.enumerate())
