"""Unchanged poll of 100 repositories: the cost of the fallback that catches missed webhooks.

Every repository is polled once a minute whether or not it changed, so an unchanged poll must
be nearly free: one conditional request per repository, answered 304 (which GitHub does not
charge against the rate limit), and no listing. Measured in one worker process polling the 100
repositories one after another, each with its own client and source as `worker.tasks` builds
them; the 304s are counted in the fake's log.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bench.common import Figure, run_scenario
from bench.context import Context, log

REPOS = 100
ITEMS = 10


def run(ctx: Context) -> list[Figure]:
    count = 10 if ctx.quick else REPOS
    fake = ctx.fake
    names = [ctx.repo(ITEMS, name=f"poll-{i:03d}").full_name for i in range(count)]
    url = ctx.fresh_db()
    base = ["bench.scenario_github", "poll", url, fake.api_url, fake.token]
    # First sync of every repository (not measured), four processes at a time.
    chunks = [names[i::4] for i in range(4)]
    ctx.reset_github()
    with ThreadPoolExecutor(4) as pool:
        firsts = list(pool.map(lambda chunk: run_scenario(*base, *chunk), chunks))
    for chunk, first in zip(chunks, firsts, strict=True):
        assert first["outcomes"] == {"success": len(chunk)}, first
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
    name = f"unchanged poll of {count}"
    reqs = [r["fake_requests"] for r in runs]
    return [
        Figure(
            name,
            "GitHub requests",
            reqs,
            "requests",
            f"= {count}, all 304",
            all(r["fake_requests"] == r["not_modified"] == count for r in runs),
            "one conditional head request per repository",
        ),
        Figure(name, "answered 304 (not charged by GitHub)", [r["not_modified"] for r in runs], ""),
        Figure(
            name,
            "wall time",
            [r["seconds"] for r in runs],
            "s",
            note="one process, repositories one after another (a worker with concurrency 1)",
        ),
    ]
