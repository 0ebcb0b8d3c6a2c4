"""The shipped example catalog yields exactly the items the README promises, with no errors."""

from __future__ import annotations

import os
from pathlib import Path

from worker.sync.entries import TreeEntry, blob_sha
from worker.sync.layout import CatalogRules, classify
from worker.sync.lint import lint_folder
from worker.sync.parse import ParsedItem, parse_item

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
RULES = CatalogRules(roots={"skills": "skill", "mcps": "mcp", "tools": "tool"})

EXPECTED = {
    "skills/pdf-extract/SKILL.md": ("skill", "PDF extraction", "octocat", "Document Automation"),
    "skills/code-review/SKILL.md": ("skill", "Code review", "hubot", "Developer Experience"),
    "skills/data-viz/SKILL.md": ("skill", "Data visualisation", "mona", "Analytics"),
    "skills/commit-message.md": ("skill", "Commit messages", "octocat", None),
    "skills/sql-style.markdown": ("skill", "SQL style guide", None, "Analytics"),
    "mcps/github/server.json": ("mcp", "GitHub", "octocat", "Developer Experience"),
    "mcps/postgres/server.json": ("mcp", "PostgreSQL (read-only)", "mona", "Analytics"),
    "mcps/filesystem.md": ("mcp", "Filesystem", "hubot", None),
    "tools/lint.yaml": ("tool", "Lint", "octocat", "Developer Experience"),
    "tools/spellcheck.yml": ("tool", "Spellcheck", "mona", None),
    "tools/format/tool.yaml": ("tool", "Format", "hubot", "Developer Experience"),
}


def _walk() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for folder, _dirs, names in os.walk(EXAMPLES):
        for name in names:
            full = Path(folder, name)
            files[full.relative_to(EXAMPLES).as_posix()] = full.read_bytes()
    return files


def test_examples_classify_and_parse_to_the_expected_items() -> None:
    files = _walk()
    types = classify([TreeEntry(p, blob_sha(d)) for p, d in files.items()], RULES)
    assert set(types) == set(EXPECTED)
    for path, item_type in types.items():
        parsed = parse_item(path, files[path], RULES)
        assert isinstance(parsed, ParsedItem), parsed
        assert (item_type, parsed.name, parsed.author, parsed.team) == EXPECTED[path]
        assert parsed.description
        assert parsed.tags


def test_examples_hold_assets_and_readmes_that_are_not_items() -> None:
    files = _walk()
    for path in (
        "README.md",
        "skills/README.md",
        "mcps/github/README.md",
        "skills/pdf-extract/reference/formats.md",
        "skills/data-viz/style.yaml",
    ):
        assert path in files
        assert path not in EXPECTED
    assert 8 <= len(EXPECTED) <= 15


def test_lint_agrees_with_the_walk() -> None:
    report = lint_folder(EXAMPLES, RULES)
    assert report.errors == []
    assert report.warnings == []
    assert set(report.items) == set(EXPECTED)
    files = _walk()
    for path, linted in report.items.items():
        assert linted.blob_sha == blob_sha(files[path])
        assert linted.type == EXPECTED[path][0]
