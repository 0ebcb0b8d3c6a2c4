"""Must show: the alert rules fire as intended on recorded series (`promtool test rules`).

promtool comes with Debian's `prometheus` package, which `make test` installs (system-deps);
without it this test fails rather than skips, so the rules are never shipped untested.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "data" / "prometheus" / "alerts_test.yml"


def test_the_cases_cover_the_rules_file_prometheus_loads() -> None:
    cases = yaml.safe_load(CASES.read_text())
    files = {(CASES.parent / f).resolve() for f in cases["rule_files"]}
    assert files == {ROOT / "deploy" / "prometheus" / "alerts.yml"}


def test_alert_rules_pass_their_promtool_cases() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: apt-get install prometheus (make system-deps does)"
    done = subprocess.run(
        [promtool, "test", "rules", str(CASES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
