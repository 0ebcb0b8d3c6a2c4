"""`.catalog-sync.yml` and ignore globs: parsed and validated without I/O, line and column named."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.repoconfig.parse import CONFIG_PATH, RepoConfig, RepoConfigError, parse_config
from worker.repoconfig.resolve import config_entry, folder_rules
from worker.sync.entries import MODE_SYMLINK, TreeEntry
from worker.sync.ignore import compile_patterns, is_ignored
from worker.sync.layout import CatalogRules, classify
from worker.sync.lint import lint_folder

BASE = CatalogRules(roots={"skills": "skill", "mcps": "mcp", "tools": "tool"}, max_file_bytes=77)
SHA = "1" * 40


def refused(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(RepoConfigError) as info:
        parse_config(data)
    assert str(info.value) == f"{CONFIG_PATH}: {info.value.detail}"
    return info.value.detail


def test_roots_and_ignore() -> None:
    config = parse_config(
        b"roots:\n  platform/catalog/skills: skill\n  /platform/catalog/mcp/: mcp\n"
        b'ignore:\n  - "**/drafts"\n  - "*.wip.md"\n'
    )
    assert config.roots == {"platform/catalog/skills": "skill", "platform/catalog/mcp": "mcp"}
    assert config.ignore == ("**/drafts", "*.wip.md")
    rules = config.rules(BASE)
    assert dict(rules.roots) == config.roots
    assert rules.max_file_bytes == 77 and rules.ignore == config.ignore
    assert RepoConfig.from_json(config.as_json()) == config


def test_empty_file_and_ignore_only_keep_the_settings_roots() -> None:
    assert parse_config(b"") == RepoConfig()
    assert parse_config(b"# nothing here\n").rules(BASE).roots == BASE.roots
    only_ignore = parse_config(b"ignore: [skills/old]\n").rules(BASE)
    assert only_ignore.roots == BASE.roots and only_ignore.ignore == ("skills/old",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("roots:\n  skills: widget\n", "line 2, column 11: type 'widget' of 'skills'"),
        ("roots: [skills]\n", "line 1, column 8: `roots` must map folder paths"),
        ("roots: {}\n", "line 1, column 8: `roots` must map"),
        ("rots:\n  skills: skill\n", "line 1, column 1: unknown key 'rots'"),
        ("roots:\n  ../x: skill\n", "line 2, column 3: root folder '../x' is not a folder path"),
        ("roots:\n  a/.hidden: skill\n", "line 2, column 3: root folder 'a/.hidden'"),
        ("roots:\n  a: skill\n  a/: tool\n", "line 3, column 3: root folder 'a' is listed twice"),
        ("roots:\n  a: 1\n", "line 2, column 6: the type of 'a' must be text"),
        ("roots:\n  1: skill\n", "line 2, column 3: a root folder must be text"),
        ("ignore: drafts\n", "line 1, column 9: `ignore` must be a list"),
        ("ignore:\n  - a/../b\n", "line 2, column 5: ignore pattern 'a/../b' has a '.' or '..'"),
        ("ignore:\n  - ''\n", "line 2, column 5: ignore pattern '' is empty"),
        ("- skills\n", "line 1, column 1: the file must be a mapping"),
        ("roots:\n  a: skill\nroots:\n  b: tool\n", "line 3, column 1: `roots` is given twice"),
        ("roots:\n a: skill\n  b: tool\n", "invalid YAML at line 3, column 4"),
        ("roots: &r\n  a: skill\n", "uses the YAML anchor &r at line 1, column 8"),
    ],
)
def test_mistakes_name_line_and_column(text: str, expected: str) -> None:
    assert expected in refused(text)


def test_bytes_that_are_not_a_small_utf8_file() -> None:
    assert "not valid UTF-8" in refused(b"roots:\n  a: skill\xff\n")
    assert "over the limit" in refused(b"#" * 70_000)


def test_nested_roots_and_ignore_globs_classify() -> None:
    rules = parse_config(
        b"roots:\n  platform/catalog/skills: skill\n  platform/catalog/tools: tool\n"
        b"ignore: ['**/drafts', '*.wip.md', platform/catalog/tools/old]\n"
    ).rules(BASE)
    paths = [
        "skills/top.md",  # the settings' root: not this repository's
        "platform/catalog/skills/a.md",
        "platform/catalog/skills/drafts/b.md",
        "platform/catalog/skills/x/drafts/c.md",
        "platform/catalog/skills/d.wip.md",
        "platform/catalog/skills/s/SKILL.md",
        "platform/catalog/skills/s/notes.md",
        "platform/catalog/tools/old/t.yaml",
        "platform/catalog/tools/t.yaml",
    ]
    assert classify([TreeEntry(p, SHA) for p in paths], rules) == {
        "platform/catalog/skills/a.md": "skill",
        "platform/catalog/skills/s/SKILL.md": "skill",
        "platform/catalog/tools/t.yaml": "tool",
    }


def test_an_ignored_manifest_does_not_make_an_item_folder() -> None:
    rules = CatalogRules(roots={"skills": "skill"}, ignore=("SKILL.md",))
    entries = [TreeEntry("skills/s/SKILL.md", SHA), TreeEntry("skills/s/guide.md", SHA)]
    assert classify(entries, rules) == {"skills/s/guide.md": "skill"}


@pytest.mark.parametrize(
    ("pattern", "path", "ignored"),
    [
        ("skills/*.md", "skills/a.md", True),
        ("skills/*.md", "skills/x/a.md", False),  # `*` stays within a segment
        ("skills/**", "skills/x/a.md", True),
        ("**/drafts", "drafts/a.md", True),
        ("**/drafts", "a/b/drafts/c.md", True),
        ("drafts", "a/drafts/c.md", True),  # no `/`: any depth
        ("drafts", "a/drafts.md", False),
        ("/skills/old", "skills/old/a.md", True),
        ("skills/old", "x/skills/old/a.md", False),  # with a `/`: anchored at the root
        ("skills/?.md", "skills/a.md", True),
        ("skills/?.md", "skills/ab.md", False),
        ("Skills", "skills/a.md", False),  # case-sensitive, as git is
        ("a+b/[x]", "a+b/[x]/c.md", True),  # regex characters are literal
    ],
)
def test_ignore_pattern_semantics(pattern: str, path: str, ignored: bool) -> None:
    assert is_ignored(path, compile_patterns([pattern])) is ignored


segment = st.text(alphabet="abcxyz-_", min_size=1, max_size=6)


@given(st.lists(segment, min_size=2, max_size=6), st.integers(min_value=1, max_value=5))
def test_a_folder_pattern_covers_exactly_what_is_below_it(parts: list[str], cut: int) -> None:
    path = "/".join(parts)
    folder = "/".join(parts[: min(cut, len(parts) - 1)])
    matcher = compile_patterns([folder])
    assert is_ignored(path, matcher)
    assert not is_ignored(folder + "zz/qq", matcher)  # a sibling, not below it


def test_no_patterns_ignore_nothing() -> None:
    assert compile_patterns([]) is None
    assert not is_ignored("skills/a.md", None)


def test_config_entry_is_the_root_regular_file_only() -> None:
    assert config_entry([TreeEntry("x/.catalog-sync.yml", SHA)]) is None
    assert config_entry([TreeEntry(CONFIG_PATH, SHA, MODE_SYMLINK)]) is None
    assert config_entry([TreeEntry(CONFIG_PATH, SHA)]) == TreeEntry(CONFIG_PATH, SHA)


def _write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def test_lint_follows_the_folders_configuration(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            CONFIG_PATH: "roots:\n  platform/catalog/skills: skill\nignore: ['**/drafts']\n",
            "platform/catalog/skills/pdf.md": "---\nname: pdf\n---\n",
            "platform/catalog/skills/drafts/wip.md": "not even front matter",
            "skills/elsewhere.md": "---\nname: elsewhere\n---\n",
        },
    )
    report = lint_folder(tmp_path, BASE)
    assert sorted(report.items) == ["platform/catalog/skills/pdf.md"]
    assert report.errors == []
    assert folder_rules(tmp_path, BASE).ignore == ("**/drafts",)


def test_lint_reports_an_invalid_configuration_with_its_line(tmp_path: Path) -> None:
    _write(tmp_path, {CONFIG_PATH: "roots:\n  skills: widget\n", "skills/a.md": "x"})
    report = lint_folder(tmp_path, BASE)
    assert [(e.path, e.message[:19]) for e in report.errors] == [
        (CONFIG_PATH, "line 2, column 11: ")
    ]
    assert report.items == {}
