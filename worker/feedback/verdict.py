"""A verdict on one commit, as GitHub takes it: pure, so every limit is unit-tested.

GitHub's limits (REST docs, "Create a check run" and "Create a commit status"): a check run takes
at most 50 annotations per request (more are appended by updating it), an annotation needs
`path`, `start_line`, `end_line`, `annotation_level` and `message`, with `start_column` only
when it starts and ends on one line; an output summary holds at most 65,535 characters; a
commit status description at most 140.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

#: The check run's name and the commit status's context: what authors see on GitHub.
CHECK_NAME = "catalog-sync"
MAX_ANNOTATIONS_PER_REQUEST = 50
MAX_DESCRIPTION_CHARS = 140
MAX_SUMMARY_CHARS = 65_535
MAX_MESSAGE_CHARS = 4_000
ELLIPSIS = "…"

#: Where the parser's messages say a problem is: "line 3, column 7" (YAML, JSON and UTF-8
#: errors all put it that way; see `worker.sync.safe_yaml`).
_LOCATION = re.compile(r"\bline (\d+), column (\d+)\b")

T = TypeVar("T")


class Conclusion(enum.StrEnum):
    """A check run conclusion (the subset catalog-sync reports)."""

    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"


#: The commit status state of each conclusion. A skipped validation is not the author's
#: failure: like a skipped check run, it does not block a merge (its description says why).
STATUS_STATE = {
    Conclusion.SUCCESS: "success",
    Conclusion.FAILURE: "failure",
    Conclusion.SKIPPED: "success",
}


@dataclass(frozen=True)
class Annotation:
    """One problem in one file; `line` 1 and no column when the message names no place."""

    path: str
    message: str
    line: int = 1
    column: int | None = None

    def as_github(self) -> dict[str, Any]:
        """The check run annotation object (always a failure: it is why a file is refused)."""
        body: dict[str, Any] = {
            "path": self.path,
            "start_line": self.line,
            "end_line": self.line,
            "annotation_level": "failure",
            "message": truncate(self.message, MAX_MESSAGE_CHARS),
        }
        if self.column is not None:
            body["start_column"] = self.column
            body["end_column"] = self.column
        return body


@dataclass(frozen=True)
class Verdict:
    """What one commit gets: a conclusion, a title and summary, the broken files' places."""

    conclusion: Conclusion
    title: str
    summary: str
    annotations: tuple[Annotation, ...] = field(default_factory=tuple)

    @property
    def description(self) -> str:
        """The commit status description: the title, cut to GitHub's 140 characters."""
        return truncate(self.title, MAX_DESCRIPTION_CHARS)

    @property
    def state(self) -> str:
        return STATUS_STATE[self.conclusion]


def locate(message: str) -> tuple[int, int] | None:
    """(line, column) a parser message names, or None when it names no place."""
    found = _LOCATION.search(message)
    if found is None:
        return None
    line, column = int(found[1]), int(found[2])
    return (line, column) if line >= 1 and column >= 1 else None


def annotation_for(path: str, message: str) -> Annotation:
    """An annotation at the place `message` names (line 1 of the file when it names none)."""
    place = locate(message)
    if place is None:
        return Annotation(path, message)
    return Annotation(path, message, place[0], place[1])


def batches(items: Sequence[T], size: int = MAX_ANNOTATIONS_PER_REQUEST) -> list[list[T]]:
    """`items` in order, in lists of at most `size` (GitHub's per-request annotation cap)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ELLIPSIS))] + ELLIPSIS


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def problem_list(annotations: Iterable[Annotation], budget: int) -> str:
    """A Markdown list of problems, one line each, within `budget` characters."""
    lines: list[str] = []
    used = 0
    items = list(annotations)
    for index, a in enumerate(items):
        where = f"line {a.line}" + (f", column {a.column}" if a.column else "")
        line = f"- `{a.path}` ({where}): {truncate(' '.join(a.message.split()), 500)}"
        rest = f"- … and {len(items) - index} more"
        if used + len(line) + 1 + len(rest) > budget:
            lines.append(rest)
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def summary_with_problems(intro: str, annotations: Sequence[Annotation]) -> str:
    """`intro`, then the problems as a list, within GitHub's summary limit."""
    if not annotations:
        return truncate(intro, MAX_SUMMARY_CHARS)
    head = intro + "\n\n"
    return head + problem_list(annotations, MAX_SUMMARY_CHARS - len(head))
