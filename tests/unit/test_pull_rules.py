"""Pull requests, the pure parts: payload fields, changed files, checks across files, verdicts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from settings import Settings
from tests.conftest import DATA
from webhook.payload import PayloadError
from webhook.pull_request import delivery, ignore_reason, pull_request_event
from worker.feedback.verdict import Annotation, Conclusion
from worker.pulls.changes import ChangedFile, ChangesError, from_compare, from_trees
from worker.pulls.refs import pull_number, pull_ref
from worker.pulls.rules import (
    LiveItem,
    PullRequestFiles,
    cross_file_problems,
    name_line,
    needed_rows,
)
from worker.pulls.verdict import pull_request_verdict, skipped_verdict
from worker.sync.entries import TreeEntry
from worker.sync.layout import CatalogRules, classify
from worker.sync.parse import ParsedItem

PAYLOADS = DATA / "github-payloads" / "octokit-webhooks" / "pull_request"
RULES = CatalogRules(roots={"skills": "skill", "mcps": "mcp", "tools": "tool"})


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def test_a_recorded_synchronize_is_read_field_by_field() -> None:
    event = pull_request_event(payload("synchronize.payload.json"))
    assert (event.action, event.number, event.repository_full_name) == (
        "synchronize",
        2,
        "Codertocat/Hello-World",
    )
    assert (event.base_ref, event.default_branch) == ("master", "master")
    assert event.head_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    settings = Settings(catalog_repos="Codertocat/Hello-World")
    assert ignore_reason(event, settings) is None
    row = delivery(event, "guid-1", 17, settings)
    assert (row.event, row.ref, row.after_sha, row.before_sha, row.branch) == (
        "pull_request",
        "refs/pull/2/head",
        event.head_sha,
        event.base_sha,
        "master",
    )


@pytest.mark.parametrize(
    ("repos", "name", "reason"),
    [
        ("Codertocat/Hello-World", "closed.payload.json", "unhandled_action"),
        ("someone/else", "opened.payload.json", "unwatched_repository"),
        ("Codertocat/Hello-World@release", "opened.payload.json", "unwatched_branch"),
        ("codertocat/hello-world@master", "reopened.payload.json", None),
    ],
)
def test_which_pull_requests_are_validated(repos: str, name: str, reason: str | None) -> None:
    event = pull_request_event(payload(name))
    assert ignore_reason(event, Settings(catalog_repos=repos)) == reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.pop("pull_request"), "invalid_pull_request"),
        (lambda d: d.update(number="2"), "invalid_number"),
        (lambda d: d.update(number=True), "invalid_number"),
        (lambda d: d["pull_request"]["head"].update(sha="HEAD"), "invalid_head_sha"),
        (lambda d: d["pull_request"]["base"].update(ref=""), "invalid_base_ref"),
        (lambda d: d.update(action=None), "invalid_action"),
    ],
)
def test_malformed_pull_request_fields_are_named(change: Any, reason: str) -> None:
    data = payload("opened.payload.json")
    change(data)
    with pytest.raises(PayloadError) as raised:
        pull_request_event(data)
    assert raised.value.reason == reason


def test_pull_refs_round_trip_and_other_refs_name_no_pull_request() -> None:
    assert pull_number(pull_ref(123)) == 123
    for ref in (None, "refs/heads/main", "refs/pull/0/head", "refs/pull/1/merge"):
        assert pull_number(ref) is None


def test_changed_files_from_compare_and_from_trees() -> None:
    files = [
        {"filename": "skills/b.md", "status": "renamed", "previous_filename": "skills/a.md"},
        {"filename": "skills/c.md", "status": "removed"},
    ]
    assert from_compare(files) == [
        ChangedFile("skills/b.md", "renamed", "skills/a.md"),
        ChangedFile("skills/c.md", "removed"),
    ]
    with pytest.raises(ChangesError):
        from_compare([{"filename": "x", "status": "exploded"}])
    assert from_trees({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "9", "d": "4"}) == [
        ChangedFile("b", "modified"),
        ChangedFile("c", "removed"),
        ChangedFile("d", "added"),
    ]


def parsed(name: str, line: int = 2) -> tuple[ParsedItem, int]:
    return ParsedItem(name, None, [], None, None, {"name": name}), line


def files(
    head: list[str], changed: list[ChangedFile], live: dict[str, tuple[str, str]], **names: str
) -> PullRequestFiles:
    entries = [TreeEntry(p, "0" * 40) for p in head]
    items = classify(entries, RULES)
    return PullRequestFiles(
        changed=changed,
        head_items=items,
        head_paths=set(head),
        parsed={p: parsed(n) for p, n in names.items()},
        live={p: LiveItem(p, n, t) for p, (n, t) in live.items()},
        roots=RULES.roots.keys(),
    )


def paths_of(problems: list[Annotation]) -> list[str]:
    return [p.path for p in problems]


def test_a_new_manifest_that_swallows_a_live_item_is_a_problem() -> None:
    state = files(
        ["skills/pdf/SKILL.md", "skills/pdf/extract.md", "skills/SKILL.md"],
        [ChangedFile("skills/pdf/SKILL.md", "added")],
        {"skills/pdf/extract.md": ("extract", "skill"), "skills/SKILL.md": ("top", "skill")},
        **{"skills/pdf/SKILL.md": "pdf"},
    )
    (problem,) = cross_file_problems(state)
    assert problem.path == "skills/pdf/SKILL.md"
    assert "`skills/pdf/extract.md` (the skill 'extract'" in problem.message


def test_an_old_manifest_is_not_blamed_on_the_pull_request() -> None:
    state = files(
        ["skills/pdf/SKILL.md", "skills/pdf/extract.md", "skills/other.md"],
        [ChangedFile("skills/other.md", "modified")],
        {"skills/pdf/extract.md": ("extract", "skill")},
        **{"skills/other.md": "other"},
    )
    assert cross_file_problems(state) == []


@pytest.mark.parametrize(
    ("nested", "expected"),
    [
        ("skills/pdf/sub/tool.json", "inside the item folder `skills/pdf/`"),
        ("skills/pdf/TOOL.md", "already has the manifest `skills/pdf/SKILL.md`"),
    ],
)
def test_a_manifest_inside_an_item_folder_is_a_problem(nested: str, expected: str) -> None:
    state = files(["skills/pdf/SKILL.md", nested], [ChangedFile(nested, "added")], {})
    (problem,) = cross_file_problems(state)
    assert (problem.path, expected in problem.message) == (nested, True)


def test_adding_or_moving_onto_a_live_item_is_a_problem() -> None:
    state = files(
        ["skills/a.md", "skills/b.md"],
        [
            ChangedFile("skills/a.md", "added"),
            ChangedFile("skills/b.md", "renamed", "skills/old.md"),
        ],
        {"skills/a.md": ("a", "skill"), "skills/b.md": ("b", "skill")},
        **{"skills/a.md": "a", "skills/b.md": "b2"},
    )
    problems = cross_file_problems(state)
    assert paths_of(problems) == ["skills/a.md", "skills/b.md"]
    assert "moves `skills/old.md` onto `skills/b.md`" in problems[1].message


def test_two_items_of_one_type_must_not_share_a_name() -> None:
    state = files(
        ["skills/a.md", "skills/b.md", "tools/a.yaml", "skills/c.md", "skills/d.md"],
        [
            ChangedFile("skills/b.md", "added"),
            ChangedFile("tools/a.yaml", "added"),
            ChangedFile("skills/c.md", "added"),
            ChangedFile("skills/d.md", "modified"),
        ],
        {"skills/a.md": ("PDF", "skill"), "skills/d.md": ("old d", "skill")},
        **{"skills/b.md": "pdf", "tools/a.yaml": "pdf", "skills/c.md": "old d", "skills/d.md": "d"},
    )
    (problem,) = cross_file_problems(state)  # d.md renamed its item: "old d" is free now
    assert (problem.path, problem.line) == ("skills/b.md", 2)
    assert "the skill `skills/a.md`" in problem.message


def test_the_rows_the_checks_need() -> None:
    changed = [ChangedFile("skills/pdf/SKILL.md", "added"), ChangedFile("skills/x.md", "removed")]
    items = {"skills/pdf/SKILL.md": "skill"}
    assert needed_rows(changed, items) == ({"skills/pdf/SKILL.md", "skills/x.md"}, {"skills/pdf"})


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("---\ndescription: x\nname: y\n---\n", 3),
        ('{\n  "tags": [],\n  "name": "n"\n}', 3),
        ("description: no name\n", 1),
    ],
)
def test_the_line_of_the_name_key(text: str, line: int) -> None:
    assert name_line(text) == line


def test_pull_request_verdicts() -> None:
    problems = [Annotation("skills/a.md", "bad", 3, 1), Annotation("skills/a.md", "worse")]
    failed = pull_request_verdict(7, "main", ["skills/a.md"], problems)
    assert (failed.conclusion, failed.title) == (Conclusion.FAILURE, "2 problems in 1 catalog file")
    assert failed.annotations == tuple(problems)
    nothing = pull_request_verdict(7, "main", [], [])
    assert (nothing.conclusion, nothing.title) == (Conclusion.SUCCESS, "No catalog item changed")
    skipped = skipped_verdict(7, "the head repository was deleted")
    assert (skipped.conclusion, skipped.state) == (Conclusion.SKIPPED, "success")
