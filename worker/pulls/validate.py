"""Validate a pull request's head: read only its changed catalog files, check them, write nothing.

Cost in requests: the compare (one), the head's tree (one, more only for a truncated tree),
one blob per changed item file (or one tarball when many changed), and, for a pull request
of 300 files or more, the merge base's tree. Files are read from the head's repository, a
fork's included, with catalog-sync's own credentials; when that repository cannot be read
(404, 403) the verdict says so and is `skipped`, never a failure blamed on the author.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from models import CatalogItem, Repository, session_factory
from worker.errors import AuthError, NotFoundError
from worker.feedback.verdict import Annotation, Verdict, annotation_for
from worker.github.client import GitHubClient
from worker.github.source import GitHubSource
from worker.pulls.changes import ChangedFile, from_trees
from worker.pulls.github import Comparison, PullRequest, compare
from worker.pulls.rules import (
    LiveItem,
    PullRequestFiles,
    cross_file_problems,
    name_line,
    needed_rows,
)
from worker.pulls.verdict import pull_request_verdict, skipped_verdict
from worker.sync.entries import FILE_MODES
from worker.sync.layout import CatalogRules, classify
from worker.sync.parse import FileError, ParsedItem, parse_item
from worker.sync.source import Head, Listing

_CHUNK = 500


@dataclass(frozen=True)
class HeadFiles:
    """What was read at the head: its listing, the changed files, the bytes of changed items."""

    listing: Listing
    changed: list[ChangedFile]
    items: Mapping[str, str]
    data: dict[str, bytes]
    wanted: dict[str, str]


def validate_head(
    engine: Engine,
    client: GitHubClient,
    rules: CatalogRules,
    full_name: str,
    pr: PullRequest,
    tarball_threshold: int = 50,
) -> Verdict:
    """The verdict on `pr.head_sha`, checked with the reconcile's own parser and rules."""
    if pr.head_repository is None:
        return skipped_verdict(pr.number, "the pull request's head repository was deleted")
    comparison = compare(client, full_name, pr.base_ref, pr.head_sha)
    head = GitHubSource(client, pr.head_repository, None, tarball_threshold=tarball_threshold)
    try:
        read = _read_head(client, head, full_name, pr, comparison, rules)
    except (NotFoundError, AuthError) as exc:
        return skipped_verdict(
            pr.number,
            f"`{pr.head_repository}` cannot be read with catalog-sync's credentials "
            f"({exc.message})",
        )
    finally:
        head.close()
    problems, parsed = _file_problems(read.wanted, read.data, rules)
    paths, folders = needed_rows(read.changed, read.items)
    names = {item.name for item, _ in parsed.values()}
    files = PullRequestFiles(
        changed=read.changed,
        head_items=read.items,
        head_paths={e.path for e in read.listing.entries if e.mode in FILE_MODES},
        parsed=parsed,
        live=live_rows(engine, full_name, paths, folders, names),
        roots=rules.roots.keys(),
    )
    problems += cross_file_problems(files)
    return pull_request_verdict(pr.number, pr.base_ref, sorted(read.wanted), problems)


def _read_head(
    client: GitHubClient,
    head: GitHubSource,
    full_name: str,
    pr: PullRequest,
    comparison: Comparison,
    rules: CatalogRules,
) -> HeadFiles:
    """The head's listing and changed item files; a cut compare list is redone from trees."""
    at_head = Head(sha=pr.head_sha)
    listing = head.listing(at_head)
    shas = {e.path: e.sha for e in listing.entries if e.mode in FILE_MODES}
    changed = comparison.files
    if not comparison.complete:
        base = GitHubSource(client, full_name, None).listing(Head(sha=comparison.merge_base))
        changed = from_trees({e.path: e.sha for e in base.entries if e.mode in FILE_MODES}, shas)
    items = classify(listing.entries, rules)
    wanted = {c.path: shas[c.path] for c in changed if not c.removed and c.path in items}
    data = dict(head.read(at_head, wanted, bulk=len(wanted) > head.tarball_threshold))
    return HeadFiles(listing, changed, items, data, wanted)


def _file_problems(
    wanted: Mapping[str, str], data: Mapping[str, bytes], rules: CatalogRules
) -> tuple[list[Annotation], dict[str, tuple[ParsedItem, int]]]:
    """Each changed item file parsed alone, exactly as a reconcile parses it."""
    problems: list[Annotation] = []
    parsed: dict[str, tuple[ParsedItem, int]] = {}
    for path in sorted(wanted):
        raw = data.get(path)
        if raw is None:
            problems.append(Annotation(path, "could not be read from GitHub"))
            continue
        result = parse_item(path, raw, rules)
        if isinstance(result, FileError):
            problems.append(annotation_for(path, result.message))
        else:
            parsed[path] = (result, name_line(raw.decode("utf-8", errors="replace")))
    return problems, parsed


def live_rows(
    engine: Engine,
    full_name: str,
    paths: Collection[str],
    folders: Collection[str],
    names: Collection[str],
) -> dict[str, LiveItem]:
    """The live rows at `paths`, below `folders`, or named one of `names` (any case)."""
    base = (
        select(CatalogItem.git_path, CatalogItem.name, CatalogItem.type)
        .join(Repository, Repository.id == CatalogItem.repository_id)
        .where(Repository.full_name == full_name, CatalogItem.deleted_at.is_(None))
    )
    lowered = sorted({n.lower() for n in names})
    conditions = [
        *(CatalogItem.git_path.in_(chunk) for chunk in _chunks(sorted(paths))),
        *(CatalogItem.git_path.startswith(f"{f}/", autoescape=True) for f in sorted(folders)),
        *(func.lower(CatalogItem.name).in_(chunk) for chunk in _chunks(lowered)),
    ]
    found: dict[str, LiveItem] = {}
    with session_factory(engine)() as session:
        for condition in conditions:
            for path, name, item_type in session.execute(base.where(condition)):
                found[path] = LiveItem(path, name, str(item_type))
    return found


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
