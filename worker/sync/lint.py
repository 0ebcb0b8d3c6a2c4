"""`catalog-sync lint DIR`: check a catalog folder with the sync's own rules, without a database."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from models import ItemType
from worker.errors import SourceError
from worker.repoconfig.parse import RepoConfigError
from worker.repoconfig.resolve import folder_rules
from worker.sync.folder import read_file, walk_folder
from worker.sync.layout import CatalogRules, classify
from worker.sync.parse import FileError, ParsedItem, parse_item


@dataclass(frozen=True)
class LintedItem:
    """An item file that parsed: where it is, its type and blob SHA, and what it says."""

    path: str
    type: ItemType
    blob_sha: str
    item: ParsedItem


@dataclass
class LintReport:
    """Every item (by path) and every file error of a folder, both sorted by path."""

    root: Path
    items: dict[str, LintedItem] = field(default_factory=dict)
    errors: list[FileError] = field(default_factory=list)
    #: Things worth a look that are not errors, e.g. no catalog root folder at all.
    warnings: list[str] = field(default_factory=list)
    #: False when not one catalog root folder exists: a path typo, which `lint` fails on.
    roots_found: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors


def lint_folder(root: Path, rules: CatalogRules) -> LintReport:
    """Classify and parse every file under `root` exactly as a sync would."""
    if not root.is_dir():
        raise SourceError(f"{root}: not a folder", reason="not_found")
    report = LintReport(root=root)
    try:
        rules = folder_rules(root, rules)
    except RepoConfigError as exc:
        report.errors.append(FileError(exc.path, exc.detail))
        return report
    missing = [r for r in rules.roots if not (root / r).is_dir()]
    if len(missing) == len(rules.roots):
        report.roots_found = False
        report.warnings.append(
            f"none of the catalog root folders ({', '.join(sorted(rules.roots))}) exists in {root}"
        )
    entries = walk_folder(root, roots=rules.roots)
    shas = {e.path: e.sha for e in entries}
    for path, item_type in sorted(classify(entries, rules).items()):
        try:
            data = read_file(root, path)
        except (OSError, ValueError) as exc:
            report.errors.append(FileError(path, f"cannot be read: {exc}"))
            continue
        parsed = parse_item(path, data, rules)
        if isinstance(parsed, FileError):
            report.errors.append(parsed)
        else:
            report.items[path] = LintedItem(path, item_type, shas[path], parsed)
    return report
