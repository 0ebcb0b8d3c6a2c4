"""Scale: how a cold sync's wall time and peak memory grow from 1,000 to 100,000 items.

The curve, not one point: a streaming sync keeps memory nearly flat while time grows with the
items; a sync that holds the repository in memory grows in both. The 1,000 and 10,000 points
are the cold-sync runs (`bench_cold`); the 100,000 point is run here, once (a run takes about
a minute of the 10-minute budget), with the baseline read on a subset and extrapolated.

A 100,000-item folder catalog has 200,001 tree entries, and GitHub truncates a recursive
listing at 100,000; the fake does the same, so the 100,000 point also measures what
catalog-sync does about a truncated tree on GitHub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.bench_cold import baseline, cold_runs, ours
from bench.common import Figure
from bench.context import Context, log

BASELINE_SUBSET = 100
#: Issue 14's targets for the 100,000-item cold sync (30 ms per GitHub request, PostgreSQL).
MAX_REQUESTS = 6
MAX_RSS_MB = 250
MAX_SECONDS = 30


def run(ctx: Context) -> list[Figure]:
    small, mid, large = ctx.scale_sizes
    fake = ctx.fake
    points: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for items in (small, mid):
        points[items] = cold_runs(ctx, items)
    for items in ctx.scale_between:  # the curve between the cold-sync sizes and the largest
        one = ours(ctx, items)
        points[items] = {"ours": [one], "baseline": []}
        log(f"cold {items:,}: ours {one['seconds']:.1f} s, {one['rss_mb']:.0f} MB")
    ctx.repo(large)
    big: dict[str, list[dict[str, Any]]] = {"ours": [], "baseline": []}
    for n in range(1 if not ctx.quick else ctx.repeats):
        one = ours(ctx, large)
        one["trees"] = fake.count(r"/git/trees/")
        one["tarballs"] = fake.count(r"^/repos/.*/tarball/")
        big["ours"].append(one)
        log(
            f"cold {large:,} run {n + 1}: ours {one['seconds']:.1f} s, {one['rss_mb']:.0f} MB, "
            f"{one['fake_requests']} requests ({one['trees']} trees, {one['tarballs']} tarballs)"
        )
    big["baseline"].append(baseline(ctx, large, BASELINE_SUBSET, complete=False))
    points[large] = big
    ctx.cache["scale"] = points
    o, b = big["ours"], big["baseline"]
    truncated = fake.max_tree_entries < 2 * large + 1
    name = f"scale {large:,}"
    return [
        *_between_figures(points, ctx.scale_between),
        Figure(
            name,
            "cold sync wall time, ours",
            [r["seconds"] for r in o],
            "s",
            f"< {MAX_SECONDS} s",
            note=f"one run (time budget); where the time goes: {_phases(o[0])}",
        ).check(lambda v: v < MAX_SECONDS),
        Figure(
            name,
            "cold sync peak memory, ours",
            [r["rss_mb"] for r in o],
            "MB",
            f"< {MAX_RSS_MB} MB",
        ).check(lambda v: v < MAX_RSS_MB),
        Figure(
            name,
            "GitHub requests, ours",
            [r["fake_requests"] for r in o],
            "requests",
            f"≤ {MAX_REQUESTS}",
            note=(
                f"the tree has {2 * large + 1:,} entries and GitHub (and the fake) truncate a "
                f"recursive listing at {fake.max_tree_entries:,}: head, "
                f"{o[0]['trees']} tree request(s) (the truncated tree; its shape says a "
                f"sub-tree walk cannot finish in a few requests), {o[0]['tarballs']} tarball "
                "(an API redirect + a download; it lists the tree and, spooled to disk, is "
                "read again from there)"
                if truncated
                else "head, recursive tree, tarball (API redirect + download)"
            ),
        ).check(lambda v: v <= MAX_REQUESTS),
        Figure(
            name,
            "cold sync wall time, baseline",
            [r["seconds"] for r in b],
            "s",
            note=f"baseline read {BASELINE_SUBSET} of {large:,} files after listing the tree, "
            f"extrapolated linearly per file to all {large:,}; one run; its "
            f"{b[0]['requests']:,.0f} requests would also wait for GitHub's 5,000/hour rate "
            "limit, not counted here"
            + (
                f"; its naive listing ignores `truncated` and saw only "
                f"{b[0]['files_total']:,} of the {large:,} items"
                if b[0]["files_total"] < large
                else ""
            ),
        ),
        Figure(name, "cold sync peak memory, baseline", [r["rss_mb"] for r in b], "MB"),
        Figure(
            name,
            "wall time, baseline ÷ ours",
            [b[0]["seconds"] / r["seconds"] for r in o],
            "x",
        ),
        Figure(
            name,
            f"peak memory growth {small:,} → {large:,} items, ours",
            [_growth(points, small, large)],
            "MB per 1,000 items",
            note="extra peak memory per 1,000 more items, between the smallest and the largest "
            "run; a fully streaming sync would stay flat",
        ),
    ]


def _between_figures(
    points: dict[int, dict[str, list[dict[str, Any]]]], sizes: tuple[int, ...]
) -> list[Figure]:
    """Wall time and peak memory of the one run at each in-between size (the curve's points)."""
    figures = []
    for n in sorted(sizes):
        run = points[n]["ours"][0]
        note = "one run, a point of the curve in scale.png; same repository shape and fake"
        figures += [
            Figure(f"scale {n:,}", "cold sync wall time, ours", [run["seconds"]], "s", note=note),
            Figure(f"scale {n:,}", "cold sync peak memory, ours", [run["rss_mb"]], "MB"),
        ]
    return figures


def _phases(run: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in run["phases"].items())


def _growth(points: dict[int, dict[str, list[dict[str, Any]]]], small: int, large: int) -> float:
    """Extra peak memory per 1,000 more items, between the smallest and largest sizes."""
    grown = _median(points[large]["ours"], "rss_mb") - _median(points[small]["ours"], "rss_mb")
    return grown / ((large - small) / 1000)


def draw(ctx: Context, path: Path) -> Path | None:
    """Two panels, log-x: wall time and peak memory against items, ours and the baseline."""
    points = ctx.cache.get("scale")
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(points)
    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for who, style in (("ours", "o-"), ("baseline", "s--")):
        label = "catalog-sync" if who == "ours" else "naive PyGithub"
        measured = [n for n in sizes if points[n][who]]  # the baseline skips the in-between
        secs = [_median(points[n][who], "seconds") for n in measured]
        mems = [_median(points[n][who], "rss_mb") for n in measured]
        (line,) = ax_time.plot(measured, secs, style, label=label)
        ax_mem.plot(measured, mems, style, label=label, color=line.get_color())
        guessed = [i for i, n in enumerate(measured) if points[n][who][0].get("extrapolated")]
        if guessed:  # hollow markers: extrapolated from a subset of the files
            ax_time.plot(
                [measured[i] for i in guessed],
                [secs[i] for i in guessed],
                style[0],
                markerfacecolor="white",
                color=line.get_color(),
                label=f"{label}, extrapolated",
            )
    ax_time.set(xscale="log", yscale="log", xlabel="items", ylabel="cold sync wall time (s)")
    ax_mem.set(xscale="log", xlabel="items", ylabel="peak memory (MB)")
    ax_mem.set_ylim(bottom=0)
    for ax in (ax_time, ax_mem):
        ax.set_xticks(sizes, [f"{n // 1000:,}k" if n >= 1000 else str(n) for n in sizes])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(
        "Cold sync through a GitHub fake with 30 ms per request, into PostgreSQL "
        "(baseline: 1 get_contents per file)",
        fontsize=9,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _median(runs: list[dict[str, Any]], key: str) -> float:
    values = sorted(float(r[key]) for r in runs)
    return values[len(values) // 2]
