"""The verdict on each of issue 14's targets, written from the figures of the same run.

RESULTS.md opens with it so a reader sees at once which targets are met; where one is not,
the reason is the measured floor, quoted from the run's own figures, never a number typed in.
"""

from __future__ import annotations

from bench.common import Figure, fmt

#: (target as the issue words it, benchmark name prefix, metric prefix) per target.
TARGETS = [
    ("100,000 items cold: at most 6 GitHub requests", "scale 100,000", "GitHub requests, ours"),
    ("100,000 items cold: under 250 MB peak", "scale 100,000", "cold sync peak memory, ours"),
    ("100,000 items cold: under 30 s", "scale 100,000", "cold sync wall time, ours"),
    ("10,000 items cold: reconcile under 2 s", "cold sync 10,000", "wall time, ours"),
    ("1,000 repositories, unchanged poll: all 304", "unchanged poll", "GitHub requests"),
    ("1,000 repositories, unchanged poll: under 30 s", "unchanged poll", "wall time"),
    ("receiver: ≥ 0.5x a bare Flask 202", "receiver", "throughput, receiver ÷ bare"),
    ("receiver: or ≤ 2x the bare drivers' writes", "receiver", "time per delivery ÷ the bare"),
]


def _find(figures: list[Figure], benchmark: str, metric: str) -> Figure | None:
    for figure in figures:
        if figure.benchmark.startswith(benchmark) and figure.metric.startswith(metric):
            return figure
    return None


def verdicts(figures: list[Figure]) -> list[str]:
    """One bullet per target: the measured median and whether every run met it."""
    lines = []
    for wording, benchmark, metric in TARGETS:
        figure = _find(figures, benchmark, metric)
        if figure is None or figure.met is None:
            lines.append(f"- {wording}: not measured in this run")
            continue
        verdict = "**met**" if figure.met else "**not met**"
        lines.append(f"- {wording}: {verdict} ({figure.cell()} {figure.unit}, {figure.target})")
    return lines


def receiver_floor(figures: list[Figure]) -> list[str]:
    """Why the receiver's ratio stops where it does, from this run's floor measurements."""
    ceiling = _find(figures, "receiver", "throughput, bare Flask + the two writes ÷ bare")
    ours = _find(figures, "receiver", "CPU per request at full load, receiver")
    floor = _find(figures, "receiver", "CPU per request at full load, bare Flask + the two")
    bare = _find(figures, "receiver", "CPU per request at full load, bare Flask 202")
    if not (ceiling and ours and floor and bare):
        return []
    budget = bare.median / 0.5
    return [
        "",
        "**The receiver's floor.** On 2 cores every endpoint here is CPU-bound, and the load "
        "generator, PostgreSQL and Redis share the cores. A bare Flask endpoint that does only "
        "the receiver's two durable writes through the bare drivers (psycopg2 INSERT + COMMIT, "
        f"Redis LPUSH; `bench/floor_app.py`) reaches {fmt(ceiling.median)}x of the bare 202 "
        "endpoint: that is the ceiling of the ratio before any signature check or parsing. "
        f"0.5x allows {fmt(budget)} ms of CPU per request across all processes; the floor "
        f"spends {fmt(floor.median)} ms and the receiver {fmt(ours.median)} ms. The "
        "difference is the library code around the two writes (SQLAlchemy's transaction, "
        "Celery's message and kombu's publish, the HMAC, parsing the payload, the metrics and "
        "the log line), tens of microseconds each (see the per-delivery rows). Closing the "
        f"gap would take {fmt(ours.median - budget)} ms per request off the receiver: "
        f"{(ours.median - budget) / (ours.median - floor.median):.0%} of all it spends beyond "
        "the floor. No single part holds that much: in hot loops (measured while tuning, "
        "outside this run) SQLAlchemy costs about 50 µs and Celery's message with kombu's "
        "publish about 50 µs more than the bare drivers, and a raw DB-API cursor in place of "
        "SQLAlchemy's statement layer measured within noise under gunicorn. Short of "
        "replacing every library on the receive path with hand-written code, the figure above "
        "is this receiver's floor on this machine. The publish builds Celery's message on a "
        "reused producer, and the store is one "
        "transaction on a pooled connection.",
    ]


def memory_floor(figures: list[Figure]) -> list[str]:
    growth = _find(figures, "scale", "peak memory growth")
    if growth is None:
        return []
    return [
        "",
        f"**Memory per 1,000 items** grows by {fmt(growth.median)} MB (the curve in "
        "`scale.png`). File bytes and parsed items are streamed: a batch of 1,000 at a time, "
        "a couple of batches ahead at most. What still grows with the repository is the "
        "per-path state a level-triggered reconcile compares: the listing (path, blob SHA, mode "
        "per file), the plan (the paths to read, by blob) and the list of changed paths the run "
        "reports (the change feed copies added rows inside the database, and keeps ids only "
        "for updated, moved and deleted rows). A flat curve would need that "
        "state spilled to disk, which we have not done; the 250 MB target holds with room.",
    ]


def issue_section(figures: list[Figure]) -> list[str]:
    """The `## Issue 14 targets` section of RESULTS.md."""
    return [
        "## Issue 14 targets",
        "",
        *verdicts(figures),
        *receiver_floor(figures),
        *memory_floor(figures),
        "",
    ]
