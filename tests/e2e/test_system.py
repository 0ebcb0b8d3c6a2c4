"""The whole system under normal operation and under faults (issue 7, "end to end").

gunicorn, a Celery worker and beat run as separate processes, started with the commands
docker-compose runs (`worker.cli.run.commands`, from `deploy/commands.json`), on a PostgreSQL
and a Redis of the test's own, with the fake GitHub sending signed push deliveries.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest

from tests.e2e.conftest import System
from tests.e2e.procs import Db, item_text, summary, wait_until

pytestmark = pytest.mark.e2e

Figures = Callable[[str, str], None]
POLL_S = 3.0  # POLL_INTERVAL_SECONDS of the stack (procs.stack_env)


def _latest_guid(system: System) -> str:
    return system.fake.deliveries[-1].guid


def test_push_reaches_the_table(system: System, figures: Figures) -> None:
    """Signed delivery → 202 → worker → the changed row committed; push-to-row latency."""
    path = "skills/item-0001.md"
    latencies: list[float] = []
    before = len(system.fake.deliveries)
    for n in range(1, 9):
        text = item_text("item-0001", f"v{n}")
        system.repo.write(path, text)
        system.tree.set({path: text})
        system.repo.commit(f"edit {n}")
        want = system.tree.files[path]
        started = time.monotonic()
        system.repo.push()
        wait_until(lambda want=want: system.db.blob_at(path) == want, 20, 0.02, "row updated")
        latencies.append(time.monotonic() - started)
        time.sleep(0.2)  # pushes a person makes, not a burst (that is coalescing's job)
    deliveries = system.fake.deliveries[before:]
    assert [d.status_code for d in deliveries] == [202] * len(latencies)
    guids = [d.guid for d in deliveries]
    statuses = wait_until(
        lambda: (
            (s := system.db.delivery_statuses(guids))
            and all(v == "done" for v in s.values())
            and len(s) == len(guids)
            and s
        ),
        15,
        0.1,
        "every delivery done",
    )
    assert set(statuses.values()) == {"done"}
    system.wait_synced(10)
    assert max(latencies) < 10, latencies
    figures("push-to-row latency", summary(latencies))


def test_missed_webhook_is_caught_by_the_poll(system: System, figures: Figures) -> None:
    sent_before = len(system.fake.deliveries)
    stored_before = system.db.scalar("SELECT count(*) FROM webhook_deliveries")
    system.fake.drop_deliveries(1)
    path = "skills/missed.md"
    started = time.monotonic()
    head = system.push({path: item_text("missed", "no webhook for this one")}, "missed")
    want = system.tree.files[path]
    wait_until(lambda: system.db.blob_at(path) == want, POLL_S + 5, 0.02, "row via the poll")
    elapsed = time.monotonic() - started
    assert len(system.fake.deliveries) == sent_before  # GitHub never told us
    assert system.db.scalar("SELECT count(*) FROM webhook_deliveries") == stored_before

    def runs_to_head() -> list[dict[str, object]]:
        return [r for r in system.db.runs() if r["to_sha"] == head and r["outcome"] == "success"]

    # The rows commit just before the run's own row: wait for that one too.
    wait_until(lambda: bool(runs_to_head()), 10, 0.02, "the run that synced the push")
    # The poll's run (or its coalesced re-run, had another run held the lock); no webhook.
    assert [r["trigger"] for r in runs_to_head()] in (["poll"], ["coalesced"])
    system.wait_synced(5)
    figures(
        "missed webhook caught by poll",
        f"{elapsed * 1000:.0f} ms after the push (POLL_INTERVAL_SECONDS={POLL_S:g})",
    )


class TreeWatcher:
    """Reads the live rows every few ms in a thread; every observation must be a whole tree."""

    def __init__(self, system: System, allowed: dict[str, dict[str, str]]) -> None:
        self.system = system
        self.allowed = allowed
        self.seen: dict[str, int] = dict.fromkeys(allowed, 0)
        self.partial: list[tuple[int, int]] = []  # (live rows, rows matching the new tree)
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.db = Db(system.stack.db_url)

    def __enter__(self) -> TreeWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.db.close()

    def _run(self) -> None:
        new = self.allowed.get("new", {})
        while not self._stop.is_set():
            try:
                live = self.db.live_tree()
            except Exception:
                self.errors += 1
                time.sleep(0.05)
                continue
            for name, tree in self.allowed.items():
                if live == tree:
                    self.seen[name] += 1
                    break
            else:
                self.partial.append((len(live), sum(1 for p, s in live.items() if new.get(p) == s)))
            time.sleep(0.01)


@pytest.mark.stack(initial=2000)
def test_kill_9_worker_mid_reconcile(system: System, figures: Figures) -> None:
    """A large change; the worker is SIGKILLed while its reconcile transaction is writing."""
    old = system.tree.snapshot()
    changes = {p: item_text(p.rsplit("/", 1)[1][:-3], "v1 (large change)") for p in old}
    changes.update(
        {f"skills/new-{i:04d}.md": item_text(f"new-{i:04d}", "added") for i in range(500)}
    )
    worker = system.stack.get("worker")
    with TreeWatcher(system, {"old": old, "new": {}}) as watcher:
        # `new` is filled in once known; until then every observation must be `old`.
        system.repo.write_many(changes)
        system.tree.set(changes)
        new = system.tree.snapshot()
        watcher.allowed["new"] = new
        watcher.seen["new"] = 0
        system.repo.commit("large change")
        pushed = time.monotonic()
        system.repo.push()
        guid = _latest_guid(system)
        # Kill when the reconcile holds its lock and its transaction has written rows.
        head = system.repo.head
        checks = 0

        def writing() -> bool | str:
            nonlocal checks
            checks += 1
            if any(wrote for _, _, wrote in system.db.reconcile_lock_holders()):
                return True
            if checks % 20 == 0 and any(
                r["to_sha"] == head and r["outcome"] == "success" for r in system.db.runs()
            ):
                return "finished"  # too fast to catch: the test must slow it down
            return False

        caught = wait_until(writing, 60, 0.005, "the reconcile transaction writing")
        worker.kill9()
        killed = time.monotonic()
        assert caught is True, "the reconcile committed before it could be killed mid-write"
        assert not worker.alive()
        lock_released = wait_until(
            lambda: not system.db.reconcile_lock_holders(), 10, 0.01, "lock released"
        )
        assert lock_released
        assert system.db.delivery_status(guid) in ("queued", "processing")
        # The worker stays dead for a while: whatever is visible must be the old tree.
        time.sleep(POLL_S + 1)
        assert system.db.live_tree() == old
        assert not any(
            r["outcome"] == "success" and r["to_sha"] == system.repo.head for r in system.db.runs()
        )
        restarted = time.monotonic()
        system.stack.start("worker")
        system.wait_synced(90)
        converged = time.monotonic()
        wait_until(lambda: system.db.delivery_status(guid) == "done", 30, 0.1, "delivery done")
        done = time.monotonic()
        # The watcher samples on its own clock: give it time to read the converged table too.
        wait_until(lambda: watcher.seen["new"] > 0, 10, 0.01, "the watcher reading the new tree")
    assert not watcher.partial, f"partial states seen: {watcher.partial[:10]}"
    assert watcher.seen["old"] > 0 and watcher.seen["new"] > 0, watcher.seen
    runs = system.db.runs()
    final = [r for r in runs if r["outcome"] == "success" and r["to_sha"] == system.repo.head]
    assert len(final) == 1, runs[-5:]
    assert final[0]["added"] == 500 and final[0]["updated"] == 2000, final[0]
    redis_unacked = system.redis_unacked()
    figures(
        "kill -9 recovery",
        f"{len(changes)} files changed; killed {killed - pushed:.2f} s after the push while "
        f"writing; after the worker restart the table equalled the head tree in "
        f"{converged - restarted:.2f} s (trigger {final[0]['trigger']}), delivery done in "
        f"{done - restarted:.2f} s; {sum(watcher.seen.values())} reads of the table: "
        f"{watcher.seen['old']} old tree, {watcher.seen['new']} new tree, "
        f"{len(watcher.partial)} partial; unacked messages left in Redis: {redis_unacked}",
    )


def test_redis_down_during_a_burst(system: System, figures: Figures) -> None:
    """100 pushes; Redis stops after the 30th and returns after the last: nothing lost."""
    pushes = 100
    first = len(system.fake.deliveries)
    redis_stopped_at = redis_started_at = 0.0
    for n in range(pushes):
        if n == 30:
            system.redis.stop()
            redis_stopped_at = time.monotonic()
        system.push({f"skills/burst-{n:03d}.md": item_text(f"burst-{n:03d}", "burst")}, f"b{n}")
    system.fake.wait_for_deliveries(first + pushes, timeout=60)
    deliveries = system.fake.deliveries[first:]
    assert len(deliveries) == pushes
    acked = [d.guid for d in deliveries if 200 <= d.status_code < 300]
    codes = sorted({d.status_code for d in deliveries})
    # Health names the broker while it is down (the database is fine).
    code, doc = system.stack.health()
    assert (code, doc.get("broker"), doc.get("database")) == (503, "down", "ok"), doc
    stored_while_down = system.db.delivery_statuses(acked)
    pending_while_down = sum(1 for s in stored_while_down.values() if s == "pending")
    system.redis.start()
    redis_started_at = time.monotonic()
    time.sleep(1)
    restarted = system.stack.restart_dead()  # as `restart: unless-stopped` would
    system.wait_synced(60)
    synced_at = time.monotonic()
    statuses = wait_until(
        lambda: (
            (s := system.db.delivery_statuses(acked))
            and len(s) == len(acked)
            and all(v == "done" for v in s.values())
            and s
        ),
        60,
        0.2,
        "every accepted delivery done",
    )
    done_at = time.monotonic()
    stored = len(system.db.delivery_statuses(acked))
    processed = sum(1 for s in statuses.values() if s == "done")
    lost = len(acked) - processed
    assert codes == [202], codes
    assert (len(acked), stored, processed, lost) == (pushes, pushes, pushes, 0)
    assert pending_while_down > 0  # the outage was real: deliveries waited in the inbox
    wait_until(lambda: system.stack.health()[0] == 200, 20, 0.2, "health 200 again")
    figures(
        "redis outage during a burst",
        f"sent {pushes}, 2xx {len(acked)}, stored {stored}, processed (done) {processed}, "
        f"lost {lost}; Redis down {redis_started_at - redis_stopped_at:.1f} s "
        f"({pending_while_down} deliveries waited as pending); after Redis returned: "
        f"table synced in {synced_at - redis_started_at:.2f} s, all deliveries done in "
        f"{done_at - redis_started_at:.2f} s; restarted after crashing on the outage: "
        f"{', '.join(restarted) or 'none'}",
    )


def test_postgres_restart(system: System, figures: Figures) -> None:
    """503 while the database is down; receiver and worker recover without a restart."""
    stack = system.stack
    system.db.close()
    system.pg.stop()
    stopped = time.monotonic()
    first = len(system.fake.deliveries)
    system.push({"skills/during-outage.md": item_text("during-outage", "db down")}, "outage")
    (delivery,) = system.fake.wait_for_deliveries(first + 1, timeout=30)[first:]
    assert delivery.status_code == 503, (delivery.status_code, delivery.response_body)
    assert '"reason":"database"' in delivery.response_body.replace(" ", "")
    code, doc = stack.health()
    assert (code, doc.get("database")) == (503, "down"), doc
    time.sleep(2)  # the worker's beat-driven tasks fail against the dead database meanwhile
    system.pg.start()
    started = time.monotonic()
    wait_until(lambda: stack.health()[0] == 200, 30, 0.1, "GET /health 200 after the restart")
    healthy = time.monotonic()
    # Same processes as before the outage: nothing was restarted.
    assert all(p.alive() for p in stack.procs), stack.leftovers()
    path = "skills/after-restart.md"
    pushed = time.monotonic()
    system.push({path: item_text("after-restart", "db back")}, "after")
    (after,) = system.fake.wait_for_deliveries(first + 2, timeout=30)[first + 1 :]
    assert after.status_code == 202, (after.status_code, after.response_body)
    want = system.tree.files[path]
    wait_until(lambda: system.db.blob_at(path) == want, 30, 0.02, "row after the restart")
    row = time.monotonic()
    system.wait_synced(30)  # the change pushed during the outage is there too (poll/next run)
    wait_until(lambda: system.db.delivery_status(after.guid) == "done", 20, 0.1, "delivery done")
    figures(
        "postgresql restart",
        f"down {started - stopped:.1f} s, receiver answered 503; /health 200 again "
        f"{healthy - started:.2f} s after the restart; a push {pushed - started:.2f} s after "
        f"the restart reached the table in {(row - pushed) * 1000:.0f} ms",
    )


@pytest.mark.stack(beats=2, env={"POLL_INTERVAL_SECONDS": "1"})
def test_two_beats_one_reconcile_at_a_time(system: System, figures: Figures) -> None:
    """Two schedulers by mistake: doubled polls, still one reconcile per repository at a time.

    Each push only adds new files, so every file is `added` by exactly one successful run: two
    reconciles applying at once from the same rows would both add it (or one would fail on the
    unique key). The lock holders are also sampled throughout.
    """
    system.fake.latency = 0.03  # every GitHub request slower: runs last, and overlap
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        db = Db(system.stack.db_url)
        try:
            while not stop.is_set():
                holders = db.reconcile_lock_holders()
                samples.append(len(holders))
                time.sleep(0.01)
        finally:
            db.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    runs_before = len(system.db.runs())
    added = 0
    try:
        started = time.monotonic()
        for n in range(25):
            files = {f"skills/b{n:02d}-{k}.md": item_text(f"b{n:02d}-{k}", "x") for k in range(4)}
            system.push(files, f"add {n}")
            added += len(files)
            time.sleep(0.25)
        system.wait_synced(60)
        # Let both beats poll a few more times over the settled head.
        time.sleep(3)
        system.wait_synced(5)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        sampler.join(10)
    runs = system.db.runs()[runs_before:]
    outcomes: dict[str, int] = {}
    for run in runs:
        outcomes[run["outcome"]] = outcomes.get(run["outcome"], 0) + 1
    success = [r for r in runs if r["outcome"] == "success"]
    assert "failed" not in outcomes, [r["error"] for r in runs if r["outcome"] == "failed"]
    assert sum(r["added"] for r in success) == added, [(r["id"], r["added"]) for r in success]
    # Pushes only add: a run applying a listing older than the rows would delete (and a later
    # one restore); that happened once in CI, before the synced marker was checked under lock.
    assert sum(r["deleted"] for r in runs) == 0, [(r["id"], r["deleted"]) for r in runs]
    assert max(samples) <= 1
    beat_logs = [system.stack.get(name).output() for name in ("beat", "beat2")]
    polls = [log.count("Sending due task poll-repositories") for log in beat_logs]
    assert all(p >= 3 for p in polls), polls  # both schedulers really were scheduling
    triggers = sorted({r["trigger"] for r in runs})
    # Not a serialisation check: `started_at` is stamped before the head request, long before
    # the lock is taken, so serialised runs may still overlap on [started_at, finished_at].
    spans = sorted((r["started_at"], r["finished_at"]) for r in success)
    overlapping = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    skipped = sum(1 for r in runs if r["outcome"] == "skipped")
    coalesced = sum(1 for r in runs if r["trigger"] == "coalesced")
    figures(
        "two beats",
        f"{len(runs)} runs in {elapsed:.1f} s ({outcomes}; triggers {triggers}); "
        f"polls sent by beat 1 / beat 2: {polls[0]} / {polls[1]}; {skipped} runs found the lock "
        f"busy (skipped), {coalesced} coalesced re-runs; {sum(r['added'] for r in success)} files added by success "
        f"runs for {added} pushed (each exactly once); max lock holders sampled: "
        f"{max(samples)} over {len(samples)} samples; success runs whose [started_at, "
        f"finished_at] overlap the previous one's: {overlapping}",
    )
