"""Run every benchmark, print the figures, publish them in bench/RESULTS.md and the README.

    python -m bench.run                     # everything: RESULTS.md, scale.png, README section
    python -m bench.run cold incremental    # a subset: printed only (`--write` to publish)
    python -m bench.run --quick             # small sizes, one run each: a smoke test

One throwaway PostgreSQL, one Redis and one GitHub fake serve the whole run (all on
127.0.0.1); every temporary folder, server and process is removed at the end, failed or not.
A benchmark that fails is reported as failed and the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.common import ROOT, Figure, machine
from bench.context import LATENCY, Context, log
from bench.summary import issue_section, verdicts

#: Name on the command line -> module; run in this order.
BENCHMARKS = {
    "cold": "bench.bench_cold",
    "incremental": "bench.bench_incremental",
    "poll": "bench.bench_poll",
    "scale": "bench.bench_scale",
    "db": "bench.bench_db",
    "receiver": "bench.bench_receiver",
}
BENCH_DIR = ROOT / "bench"
RESULTS = BENCH_DIR / "RESULTS.md"
README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="BENCHMARK", help=", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--write", action="store_true", help="publish a partial run too")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)
    full = not args.names and not args.quick
    publish = full or args.write

    started = time.monotonic()
    code = code_version()
    tmp = Path(tempfile.mkdtemp(prefix="catalog-sync-bench-"))
    figures: list[Figure] = []
    failed: list[str] = []
    ctx: Context | None = None
    versions, png = "", None
    try:
        ctx = Context(tmp, quick=args.quick)
        for name in names:
            log(f"--- {name}")
            try:
                module = importlib.import_module(BENCHMARKS[name])
                got: list[Figure] = module.run(ctx)
            except Exception:
                failed.append(name)
                log(f"{name} FAILED:\n{traceback.format_exc()}")
                got = [Figure(name, "FAILED (see the run's output)", [0], "", "", False)]
            for figure in got:
                print(row(figure), flush=True)
            figures += got
        versions = server_versions(ctx)
        if publish and "scale" in names and "scale" not in failed:
            from bench.bench_scale import draw

            png = draw(ctx, BENCH_DIR / "scale.png")
    finally:
        if ctx is not None:
            ctx.close()
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    if code_version() != code:
        code = f"{code} at the start, {code_version()} at the end (the code changed during the run)"
    doc = results_markdown(figures, code, versions, elapsed, png, quick=args.quick)
    if publish:
        RESULTS.write_text(doc)
        log(f"wrote {RESULTS.relative_to(ROOT)}")
        log(update_readme(figures, png))
    else:
        print("\n" + doc)
    log(f"total {elapsed:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


# --------------------------------------------------------------------------- markdown


def row(figure: Figure, footnotes: dict[str, int] | None = None) -> str:
    metric = figure.metric
    if figure.note and footnotes is not None:
        number = footnotes.setdefault(figure.note, len(footnotes) + 1)
        metric += f" [{number}]"
    met = {True: "yes", False: "**no**", None: ""}[figure.met]
    runs_met = figure.extra.get("runs_met")
    if figure.met is False and runs_met and len(figure.values) > 1:
        met += f" ({runs_met} of {len(figure.values)} runs met it)"
    cell = f"{figure.cell()}, n={len(figure.values)}"
    return f"| {figure.benchmark} | {metric} | {cell} | {figure.unit} | {figure.target} | {met} |"


def table(figures: list[Figure]) -> str:
    footnotes: dict[str, int] = {}
    lines = [
        "| benchmark | metric | median (min to max), runs | unit | target | met? |",
        "|---|---|---|---|---|---|",
        *(row(f, footnotes) for f in figures),
    ]
    if footnotes:
        lines += ["", *(f"{n}. {note}" for note, n in footnotes.items())]
    return "\n".join(lines)


def results_markdown(
    figures: list[Figure],
    code: str,
    versions: str,
    elapsed: float,
    png: Path | None,
    *,
    quick: bool,
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmark results" + (" (quick smoke run: small sizes, not figures)" if quick else ""),
        "",
        f"`make bench` (`python -m bench.run`), {when}, whole run {elapsed / 60:.1f} min.",
        "",
        f"- Code: {code}.",
        f"- Machine: {machine()}.",
        f"- Servers: {versions}; throwaway, on 127.0.0.1 (fsync off, as the test suite runs them).",
        f"- GitHub: the fake of `tests/fakes/github/` on 127.0.0.1, {LATENCY * 1000:.0f} ms "
        "of latency added to every request (tarball download included), real git underneath.",
        "- Each figure is the median of its runs with the range; a ratio is computed per pair "
        "of runs made back to back in the same run. **met?** is yes only when every run met "
        "the target; where a target is missed the table says so.",
        "- GitHub requests are counted in the fake's own log. Its 5,000 requests/hour rate "
        "limit is refilled before each measurement (the baselines alone spend more).",
        "- The fake sends a response's headers and body in two writes; with Nagle's algorithm "
        "on, every request after the first on a keep-alive connection then waits ~40 ms for "
        "the client's delayed ACK, more than the injected latency. GitHub does not do that, so "
        "the benchmarks switch Nagle off in the fake (`TCP_NODELAY`).",
        "- The baseline is PyGithub as usually written, with its default pacing "
        "(`seconds_between_requests=0.25`) switched off, so that it is not slowed by a throttle.",
        "- Peak memory is the measured process's own `VmHWM` (`ru_maxrss` would include the "
        "parent's high-water mark: Linux carries it across fork/exec).",
        "- Issue 14 targets: 100,000 items cold in ≤ 6 GitHub requests, < 250 MB and < 30 s; "
        "10,000 items cold reconciled in < 2 s; an unchanged poll of 1,000 repositories in "
        "< 30 s from one worker process, every request a 304; the receiver at ≥ 0.5x a bare "
        "Flask 202 endpoint or within 2x of the bare drivers' two writes per delivery.",
        "- A truncated tree is listed by one tarball at once when the truncated listing's shape "
        "says a sub-tree walk cannot finish within a few requests "
        "(`worker/github/truncation.py`); the walk is kept for trees it can finish cheaply.",
        "- The poll issues its conditional head requests from a bounded pool of threads in one "
        "process (`worker/sync/poll.py`), over the GitHub client's keep-alive connections; a "
        "shared rate reserve (`rate_budget` table) defers every worker's polls until GitHub's "
        "reset when `x-ratelimit-remaining` falls under it.",
        "- A cold sync writes items with COPY (`models/copy.py`) and copies their change rows "
        "inside the database (`INSERT ... SELECT`), reads "
        "GitHub's tarball with a streaming tar reader property-tested against `tarfile` "
        "(`worker/github/tarstream.py`, 3-4x faster per header), parses plain front matter "
        "in one YAML pass (`safe_yaml.needs_event_check` proves the event checks cannot fail), "
        "and reads the next batch in a thread while one is written (`worker/sync/prefetch.py`).",
        "- The receiver's publish reuses one kombu producer and one redis-py client per thread "
        "and caches the exchange's bindings: kombu built a client and read the bindings from "
        "Redis on every publish (two round trips instead of one). It builds and sends Celery's "
        "own message (`create_task_message`, `send_task_message`) without `send_task`'s "
        "per-call routing and queue re-declaration (declared once per producer).",
        "- The receiver's floor is measured, not assumed: `bench.floor_app` makes the same two "
        "writes through the bare drivers behind a bare Flask endpoint under the same gunicorn "
        "command, and every closed-loop run reports the CPU each process spent per request.",
        "",
        *issue_section(figures),
        "## All figures",
        "",
        table(figures),
    ]
    if png is not None:
        parts += ["", "## Scale", "", f"![wall time and peak memory against items]({png.name})"]
    return "\n".join(parts) + "\n"


def update_readme(figures: list[Figure], png: Path | None) -> str:
    """Rewrite only what lies between the README's bench markers; never anything else."""
    if not README.exists():
        return "README.md not found: not updated"
    text = README.read_text()
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        return f"README.md has no {START} ... {END} markers: not updated"
    body = [
        START,
        "",
        f"Figures from `make bench` ({datetime.now(UTC):%Y-%m-%d}, {machine()}); "
        "details and notes in [bench/RESULTS.md](bench/RESULTS.md). Issue 14's targets:",
        "",
        *verdicts(figures),
        "",
        "Where a target is not met, RESULTS.md says why, from the floor measured in the same run.",
        "",
        table(figures),
    ]
    if png is not None:
        body += ["", f"![wall time and peak memory against items](bench/{png.name})"]
    body += ["", END]
    README.write_text(pattern.sub(lambda _: "\n".join(body), text, count=1))
    return "README.md section between the bench markers updated"


def code_version() -> str:
    """The commit measured, and whether files outside bench/ differed from it (read-only git)."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.splitlines()
    except OSError:
        return "unknown (no git)"
    changed = [line[3:] for line in status if not line[3:].startswith(("bench/", "README.md"))]
    if changed:
        return f"commit {sha} with uncommitted changes to {', '.join(changed)}"
    return f"commit {sha}"


def server_versions(ctx: Context) -> str:
    found = []
    for argv in (
        [str(ctx.pg.bindir / "postgres"), "--version"] if ctx.pg else [],
        ["redis-server", "--version"],
        ["git", "--version"],
    ):
        if not argv:
            continue
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        except OSError:
            continue
        found.append(_short_version(out))
    return ", ".join(found)


def _short_version(text: str) -> str:
    if text.startswith("Redis"):
        m = re.search(r"v=(\S+)", text)
        return f"Redis {m[1]}" if m else text.strip()
    if text.startswith("postgres"):
        m = re.search(r"\) (\d+(?:\.\d+)*)", text)
        return f"PostgreSQL {m[1]}" if m else text.strip()
    return text.strip()


if __name__ == "__main__":
    sys.exit(main())
