"""What `catalog-sync lint --format text|json|github` prints, pure: one function per format.

Every format says the same: each broken file with the line and column the parser names (line 1
when it names none), the items found, and the warning when no catalog root folder exists,
which is an error for CI (exit 1): a workflow pointed at the wrong folder must not pass.
"""

from __future__ import annotations

from typing import Any

from worker.feedback.actions import error_commands, escape_data
from worker.feedback.verdict import Annotation, annotation_for
from worker.sync.lint import LintReport

FORMATS = ("text", "json", "github")


def file_annotations(report: LintReport) -> list[Annotation]:
    return [annotation_for(e.path, e.message) for e in report.errors]


def passed(report: LintReport) -> bool:
    """Valid: no broken file, and at least one catalog root folder found."""
    return report.ok and not report.warnings


def as_text(report: LintReport) -> list[str]:
    """Broken files and the count, for stdout (the CLI prints warnings on stderr)."""
    lines = [f"{e.path}: {e.message}" for e in report.errors]
    lines.append(f"{len(report.items)} items, {len(report.errors)} errors")
    return lines


def as_json(report: LintReport) -> dict[str, Any]:
    return {
        "items": sorted(report.items),
        "errors": [
            {"git_path": a.path, "line": a.line, "column": a.column, "message": a.message}
            for a in file_annotations(report)
        ],
        "warnings": list(report.warnings),
    }


def as_github(report: LintReport, prefix: str) -> list[str]:
    """`::error` workflow commands, paths under `prefix` (the folder's place in the repository)."""
    lines = error_commands(file_annotations(report), prefix)
    lines += [f"::error::{escape_data(w)}" for w in report.warnings]
    lines.append(f"{len(report.items)} items, {len(report.errors)} errors")
    return lines
