"""Shared benchmark plumbing: run a scenario in a fresh process, take the median of runs.

Each measurement runs in its own Python process so that its peak memory is its own, not the
high-water mark of everything measured before it in the same run. The peak is read from
`VmHWM` in /proc/self/status: `ru_maxrss` is no good here, because Linux carries the parent's
high-water mark across fork/exec into the child's (a child of a 400 MB parent reports 400 MB).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figure:
    """One row of the results table: a metric's median and range over several runs."""

    benchmark: str
    metric: str
    values: list[float]
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self, ok: Callable[[float], bool]) -> Figure:
        """Judge every run against the target: met only if all of them meet it."""
        passed = sum(bool(ok(v)) for v in self.values)
        self.met = passed == len(self.values)
        self.extra["runs_met"] = passed
        return self

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))

    def cell(self) -> str:
        lo, hi = min(self.values), max(self.values)
        med = fmt(self.median)
        return med if lo == hi else f"{med} ({fmt(lo)} to {fmt(hi)})"


def fmt(value: float) -> str:
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def run_scenario(module: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `python -m module args` and parse the JSON line it prints last."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def peak_rss_mb() -> float:
    """This process's own peak resident memory in MB (VmHWM; see the module docstring)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def emit(payload: dict[str, Any]) -> None:
    """A scenario's result: one JSON line on stdout, read by `run_scenario`."""
    print(json.dumps(payload), flush=True)


def machine() -> str:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {mem_kb / 1024 / 1024:.0f} GiB RAM, "
        f"Python {platform.python_version()}"
    )
