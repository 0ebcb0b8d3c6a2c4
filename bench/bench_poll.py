"""Unchanged poll of 1,000 repositories: the cost of the fallback that catches missed webhooks.

Every repository is polled once a minute whether or not it changed, so an unchanged poll must
be nearly free: one conditional request per repository, answered 304 (which GitHub does not
charge against the rate limit), and no listing. Measured as the beat's poll task runs it: one
worker process, the conditional head requests issued concurrently by a bounded pool of threads
over the shared client's keep-alive connections (`worker.sync.poll`); the 304s are counted in
the fake's log. At 30 ms a request, 1,000 polls one after another would take 30 s or more.
"""

from __future__ import annotations

from bench.common import Figure, run_scenario
from bench.context import Context, log
from worker.sync.poll import POLL_WORKERS

REPOS = 1000
ITEMS = 10
TARGET_S = 30.0


def run(ctx: Context) -> list[Figure]:
    count = 20 if ctx.quick else REPOS
    fake = ctx.fake
    names = [ctx.repo(ITEMS, name=f"poll-{i:04d}").full_name for i in range(count)]
    url = ctx.fresh_db()
    base = ["bench.scenario_github", "poll", url, fake.api_url, fake.token]
    # First sync of every repository (not measured): the same concurrent cycle.
    ctx.reset_github()
    first = run_scenario(*base, *names)
    assert first["outcomes"] == {"success": count}, first
    runs = []
    for n in range(ctx.repeats):
        ctx.reset_github()
        r = run_scenario(*base, *names)
        r["fake_requests"] = fake.request_count
        r["not_modified"] = fake.count(status=304)
        runs.append(r)
        log(
            f"poll {count} run {n + 1}: {r['seconds']:.2f} s, {r['fake_requests']} requests, "
            f"{r['not_modified']} answered 304, outcomes {r['outcomes']}"
        )
    name = f"unchanged poll of {count:,}"
    reqs = [r["fake_requests"] for r in runs]
    return [
        Figure(
            name,
            "GitHub requests",
            reqs,
            "requests",
            f"= {count:,}, all 304",
            all(r["fake_requests"] == r["not_modified"] == count for r in runs),
            "one conditional head request per repository",
        ),
        Figure(name, "answered 304 (not charged by GitHub)", [r["not_modified"] for r in runs], ""),
        Figure(
            name,
            "wall time",
            [r["seconds"] for r in runs],
            "s",
            f"< {TARGET_S:.0f} s",
            note=f"one worker process, {POLL_WORKERS} polls in flight (a bounded thread pool "
            "over the GitHub client's keep-alive connections); each poll is a conditional head "
            "request and the repository's bookkeeping row",
        ).check(lambda v: v < TARGET_S),
    ]
