"""The catalog rules of one reconcile: the repository's `.catalog-sync.yml`, or the settings'.

The file comes from the same tree listing as the catalog. Its blob SHA and what it said are kept
on the repository row, so the blob is read again only when the SHA changes; a SHA that already
failed is not read again either (its file error says why). Runs inside the reconcile's
transaction: the stored configuration changes with the rows it produced, or not at all.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from models import CatalogFileError, Repository, utcnow
from models.db import transaction
from worker.errors import TransientSourceError
from worker.repoconfig.parse import CONFIG_PATH, RepoConfig, RepoConfigError, parse_config
from worker.sync.entries import FILE_MODES, TreeEntry, blob_sha
from worker.sync.layout import CatalogRules
from worker.sync.source import Head, Listing, Source


def config_entry(entries: list[TreeEntry]) -> TreeEntry | None:
    """The root `.catalog-sync.yml` of a listing, if it is a regular file."""
    for entry in entries:
        if entry.path == CONFIG_PATH and entry.mode in FILE_MODES:
            return entry
    return None


def rules_for(
    session: Session, repository_id: int, source: Source, listing: Listing, base: CatalogRules
) -> CatalogRules:
    """The rules for this listing; raises `RepoConfigError` when the file is invalid."""
    entry = config_entry(listing.entries)
    stored_sha, stored = session.execute(
        select(Repository.config_sha, Repository.config).where(Repository.id == repository_id)
    ).one()
    if entry is None:
        if stored_sha is not None:
            _store(session, repository_id, None, None)
        return base
    if entry.sha == stored_sha and stored is not None:
        return RepoConfig.from_json(stored).rules(base)
    failed = session.execute(
        select(CatalogFileError.blob_sha, CatalogFileError.message).where(
            CatalogFileError.repository_id == repository_id,
            CatalogFileError.git_path == CONFIG_PATH,
        )
    ).first()
    if failed is not None and failed[0] == entry.sha:
        raise RepoConfigError(failed[1], sha=entry.sha)  # same broken blob: not read again
    config = _read(source, listing, entry)
    _store(session, repository_id, entry.sha, config)
    return config.rules(base)


def _read(source: Source, listing: Listing, entry: TreeEntry) -> RepoConfig:
    wanted = {CONFIG_PATH: entry.sha}
    for path, data in source.read(Head(sha=listing.commit_sha), wanted):
        if path == CONFIG_PATH and blob_sha(data) == entry.sha:
            try:
                return parse_config(data)
            except RepoConfigError as exc:
                exc.sha = entry.sha
                raise
    raise TransientSourceError(f"{CONFIG_PATH} could not be read from the source")


def _store(
    session: Session, repository_id: int, sha: str | None, config: RepoConfig | None
) -> None:
    session.execute(
        update(Repository)
        .where(Repository.id == repository_id)
        .values(config_sha=sha, config=config.as_json() if config is not None else None)
    )


def record_config_error(
    engine: Engine, repository_id: int, error: RepoConfigError, commit_sha: str | None
) -> None:
    """Show a refused configuration where file errors show (`status`, `errors`)."""
    if error.sha is None:
        return
    now = utcnow()
    with transaction(engine) as session:
        session.execute(
            delete(CatalogFileError).where(
                CatalogFileError.repository_id == repository_id,
                CatalogFileError.git_path == CONFIG_PATH,
                CatalogFileError.blob_sha != error.sha,
            )
        )
        row = session.execute(
            select(CatalogFileError).where(
                CatalogFileError.repository_id == repository_id,
                CatalogFileError.git_path == CONFIG_PATH,
            )
        ).scalar_one_or_none()
        if row is not None:
            row.last_seen_at = now
            return
        session.add(
            CatalogFileError(
                repository_id=repository_id,
                git_path=CONFIG_PATH,
                blob_sha=error.sha,
                message=error.detail,
                commit_sha=commit_sha,
                first_seen_at=now,
                last_seen_at=now,
            )
        )


def folder_rules(root: Path, base: CatalogRules) -> CatalogRules:
    """The rules for a local folder (`lint`, `--source`): its `.catalog-sync.yml`, if any."""
    path = root / CONFIG_PATH
    if not path.is_file() or path.is_symlink():
        return base
    return parse_config(path.read_bytes()).rules(base)
