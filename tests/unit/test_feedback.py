"""The pure parts of feedback: places of parser errors, GitHub's limits, verdicts, escaping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.feedback import lint_output
from worker.feedback.actions import (
    error_command,
    escape_data,
    escape_property,
    repository_prefix,
)
from worker.feedback.synced import synced_verdict, wants_verdict
from worker.feedback.verdict import (
    MAX_DESCRIPTION_CHARS,
    Annotation,
    Conclusion,
    Verdict,
    annotation_for,
    batches,
    locate,
    problem_list,
    truncate,
)
from worker.sync.apply import Counts
from worker.sync.layout import CatalogRules
from worker.sync.lint import lint_folder
from worker.sync.parse import FileError, parse_item
from worker.sync.run import Result as SyncResult

RULES = CatalogRules(roots={"skills": "skill", "mcps": "mcp", "tools": "tool"})


def error_of(path: str, text: bytes) -> str:
    parsed = parse_item(path, text, RULES)
    assert isinstance(parsed, FileError), parsed
    return parsed.message


@pytest.mark.parametrize(
    ("path", "data", "place"),
    [
        # The front matter starts on line 2: the YAML error's line counts from the file's top.
        ("skills/a.md", b"---\nname: a\ntags: [x\n---\n", (4, 1)),
        ("skills/b.yaml", b"name: b\ndescription: ok\n  bad: indent\n", (3, 6)),
        ("mcps/c.json", b'{\n  "name": "c",\n  "tags": [1,,]\n}\n', (3, 14)),
        ("skills/d.md", b"---\nname: d\n---\n\xff\n", (4, 1)),
        ("skills/e.yaml", b"name: &anchor e\n", (1, 7)),
    ],
)
def test_locate_reads_the_place_every_parser_error_names(
    path: str, data: bytes, place: tuple[int, int]
) -> None:
    message = error_of(path, data)
    assert locate(message) == place, message
    assert annotation_for(path, message) == Annotation(path, message, *place)


def test_errors_without_a_place_point_at_the_first_line() -> None:
    message = error_of("skills/a.md", b"---\ndescription: x\n---\n")
    assert locate(message) is None
    annotation = annotation_for("skills/a.md", message)
    assert (annotation.line, annotation.column) == (1, None)
    assert annotation.as_github() == {
        "path": "skills/a.md",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "failure",
        "message": message,
    }


def test_an_annotation_with_a_column_starts_and_ends_on_its_line() -> None:
    body = Annotation("tools/t.yaml", "bad", 7, 3).as_github()
    assert body["start_line"] == body["end_line"] == 7
    assert body["start_column"] == body["end_column"] == 3


@pytest.mark.parametrize(
    ("n", "sizes"), [(0, []), (1, [1]), (50, [50]), (51, [50, 1]), (120, [50, 50, 20])]
)
def test_annotations_go_in_batches_of_fifty(n: int, sizes: list[int]) -> None:
    items = list(range(n))
    groups = batches(items)
    assert [len(g) for g in groups] == sizes
    assert [x for g in groups for x in g] == items  # order kept, nothing lost


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        batches([1], 0)


def test_truncate_keeps_short_text_and_cuts_long_text_with_an_ellipsis() -> None:
    assert truncate("short", 140) == "short"
    assert truncate("x" * 140, 140) == "x" * 140
    cut = truncate("y" * 141, 140)
    assert len(cut) == 140 and cut.endswith("…") and cut.startswith("y" * 139)


def test_the_status_description_never_exceeds_140_characters() -> None:
    verdict = Verdict(Conclusion.FAILURE, "a very long title " * 20, "summary")
    assert len(verdict.description) == MAX_DESCRIPTION_CHARS
    assert verdict.state == "failure"
    assert Verdict(Conclusion.SKIPPED, "Not validated", "").state == "success"


def test_the_problem_list_fits_its_budget_and_says_how_many_are_left() -> None:
    many = [Annotation(f"skills/f{i:03d}.md", "invalid YAML " * 10, i + 1) for i in range(500)]
    text = problem_list(many, 5000)
    assert len(text) <= 5000
    assert text.splitlines()[0].startswith("- `skills/f000.md` (line 1):")
    assert text.splitlines()[-1].startswith("- … and ")


def run_result(
    outcome: str,
    to_sha: str | None = "a" * 40,
    error: str | None = None,
    counts: Counts | None = None,
) -> SyncResult:
    return SyncResult("acme/catalog", outcome, counts or Counts(), to_sha=to_sha, error=error)


def test_a_clean_sync_succeeds_with_its_counts() -> None:
    verdict = synced_verdict(run_result("success", counts=Counts(added=3, updated=1)), [])
    assert verdict.conclusion == Conclusion.SUCCESS
    assert verdict.title == "Catalog synced: 3 added, 1 updated, 0 moved, 0 deleted, 0 errors"
    assert verdict.annotations == ()


def test_a_sync_with_broken_files_fails_with_one_annotation_each() -> None:
    errors = [
        ("skills/z.md", "has no `name`; every item needs `name: ...`"),
        ("skills/a.yaml", "invalid YAML at line 2, column 5: mapping values are not allowed"),
    ]
    verdict = synced_verdict(run_result("success", counts=Counts(added=8)), errors)
    assert verdict.conclusion == Conclusion.FAILURE
    assert (
        verdict.title
        == "2 catalog files not synced: 8 added, 0 updated, 0 moved, 0 deleted, 2 errors"
    )
    assert [(a.path, a.line, a.column) for a in verdict.annotations] == [
        ("skills/a.yaml", 2, 5),
        ("skills/z.md", 1, None),
    ]
    assert "`skills/a.yaml` (line 2, column 5)" in verdict.summary


def test_a_refused_sync_fails_and_says_why() -> None:
    verdict = synced_verdict(
        run_result("refused", error="refusing to delete 40 of 50 live items"), []
    )
    assert verdict.conclusion == Conclusion.FAILURE
    assert "refusing to delete 40 of 50" in verdict.summary


@pytest.mark.parametrize(
    ("outcome", "sha", "wanted"),
    [
        ("success", "a" * 40, True),
        ("noop", "a" * 40, True),
        ("refused", "a" * 40, True),
        ("failed", "a" * 40, False),
        ("skipped", "a" * 40, False),
        ("success", None, False),
    ],
)
def test_only_finished_runs_get_a_verdict(outcome: str, sha: str | None, wanted: bool) -> None:
    assert wants_verdict(run_result(outcome, to_sha=sha)) is wanted


def test_workflow_command_escaping_follows_the_runner() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = error_command(Annotation("skills/a,b:c.md", "bad: x,\ny", 3, 7), "cat alog")
    assert line == "::error file=cat alog/skills/a%2Cb%3Ac.md,line=3,col=7::bad: x,%0Ay"
    assert error_command(Annotation("skills/n.md", "no name")) == (
        "::error file=skills/n.md,line=1::no name"
    )


def test_the_prefix_is_the_folder_inside_its_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "catalog" / "skills").mkdir(parents=True)
    assert repository_prefix(repo / "catalog", tmp_path) == "catalog"
    assert repository_prefix(repo, tmp_path) == ""
    outside = tmp_path / "plain" / "cat"
    outside.mkdir(parents=True)
    assert repository_prefix(outside, tmp_path / "plain") == "cat"
    assert repository_prefix(outside, repo) == ""


def _bad_folder(root: Path) -> Path:
    (root / "skills").mkdir(parents=True)
    (root / "skills" / "good.md").write_text("---\nname: good\n---\n")
    (root / "skills" / "bad.yaml").write_text("name: x\n  tags: y\n")
    return root


def test_lint_formats_say_the_same_thing(tmp_path: Path) -> None:
    report = lint_folder(_bad_folder(tmp_path / "cat"), RULES)
    assert not lint_output.passed(report)
    doc = lint_output.as_json(report)
    assert json.loads(json.dumps(doc)) == {
        "items": ["skills/good.md"],
        "errors": [
            {
                "git_path": "skills/bad.yaml",
                "line": 2,
                "column": 7,
                "message": report.errors[0].message,
            }
        ],
        "warnings": [],
    }
    github = lint_output.as_github(report, "cat")
    assert github[0].startswith("::error file=cat/skills/bad.yaml,line=2,col=7::invalid YAML")
    assert github[-1] == "1 items, 1 errors"
    assert lint_output.as_text(report)[0].startswith("skills/bad.yaml: invalid YAML at line 2")


def test_lint_without_a_catalog_root_does_not_pass(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    report = lint_folder(tmp_path, RULES)
    assert report.ok and not lint_output.passed(report)
    assert lint_output.as_github(report, "")[0].startswith("::error::none of the catalog root")
