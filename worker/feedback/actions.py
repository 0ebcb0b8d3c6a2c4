"""GitHub Actions workflow commands: `::error file=…,line=…,col=…::message`, pure.

Escaping follows GitHub's runner (`@actions/core`, `command.ts`): in the message `%`, CR and LF
become `%25`, `%0D`, `%0A`; in a property value `:` and `,` also become `%3A` and `%2C`, since
they separate the properties. Paths are relative to the repository root, the workflow's
working directory, so annotations land on the files of the pull request.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from worker.feedback.verdict import Annotation


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def error_command(annotation: Annotation, prefix: str = "") -> str:
    """One `::error` line for `annotation`; its path is put under `prefix` (a folder path)."""
    path = str(PurePosixPath(prefix) / annotation.path) if prefix else annotation.path
    props = [f"file={escape_property(path)}", f"line={annotation.line}"]
    if annotation.column is not None:
        props.append(f"col={annotation.column}")
    return f"::error {','.join(props)}::{escape_data(annotation.message)}"


def error_commands(annotations: Iterable[Annotation], prefix: str = "") -> list[str]:
    return [error_command(a, prefix) for a in annotations]


def repository_prefix(folder: Path, cwd: Path) -> str:
    """Where `folder` is inside its git repository (`""` at the root), as a POSIX path.

    The repository is the nearest enclosing folder holding `.git`; outside any repository,
    the working directory stands for the root when it encloses `folder`.
    """
    folder = folder.resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return _relative(folder, candidate)
    cwd = cwd.resolve()
    if folder == cwd or cwd in folder.parents:
        return _relative(folder, cwd)
    return ""


def _relative(folder: Path, root: Path) -> str:
    relative = folder.relative_to(root).as_posix()
    return "" if relative == "." else relative
