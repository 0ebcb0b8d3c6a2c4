"""Settings for every catalog-sync process, read from the environment and `.env`.

One class, validated when a command starts (never at import), so that a typo in `CATALOG_REPOS`
fails loudly at boot instead of silently watching nothing. Every bound is here, and a
validation error renders as one line naming the variable, the bad entry and what is allowed
(`worker.settings_errors`). Unknown `CATALOG_*`/`GITHUB_*` variables are warned about by name.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.tables import ItemType

log = logging.getLogger("catalog_sync.settings")

_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_OWNER_WILDCARD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/\*$")
_TOPIC_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
#: What git refuses in a branch name (`git check-ref-format`), simplified: no control
#: characters, spaces, `~^:?*[\`, `..`, `//` or `@{`; no leading `-` or `/`; no trailing `/`,
#: `.` or `.lock`. At most 255 characters: `repositories.branch`.
_BRANCH_RE = re.compile(
    r"^(?!-|/)(?!.*(?:\.\.|@\{|//))[^\x00-\x20\x7f~^:?*\[\\]{1,255}(?<![/.])(?<!\.lock)$"
)
_ITEM_TYPES = tuple(t.value for t in ItemType)
#: The characters a catalog file's `author` may use (worker.sync.parse), at most GitHub's 39.
_LOGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,38}$")
_SHOWN_CHARS = 40

DAY_S = 86_400
MIB = 1_048_576


def shown(value: object) -> str:
    """A value as an error message quotes it: repr, cut to a readable length."""
    text = str(value)
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return f"{text[: _SHOWN_CHARS - 3]!r}... ({len(text)} characters)"


@dataclass(frozen=True)
class RepoSpec:
    """One watched repository: `owner/name` and an optional branch (None: the default branch).

    `owner/*` (no branch) stands for every repository of the owner: see `is_wildcard`.
    """

    full_name: str
    branch: str | None = None

    @classmethod
    def parse(cls, text: str) -> RepoSpec:
        """Parse `owner/name`, `owner/name@branch` or `owner/*`; errors name the entry."""
        entry = text.strip()
        if _OWNER_WILDCARD_RE.match(entry):
            return cls(full_name=entry)
        name, _, branch = entry.partition("@")
        if not _REPO_RE.match(name) or ("@" in entry and not branch.strip()):
            raise ValueError(
                f"CATALOG_REPOS entry {shown(entry)} is not 'owner/name', 'owner/name@branch' "
                "or 'owner/*'"
            )
        branch = branch.strip()
        if branch and not _BRANCH_RE.match(branch):
            raise ValueError(
                f"CATALOG_REPOS entry {shown(entry)}: {shown(branch)} is not a git branch name "
                "(at most 255 characters; no spaces, '..' or '~^:?*[\\'; not ending in '/', '.' or "
                "'.lock')"
            )
        return cls(full_name=name, branch=branch or None)

    @property
    def is_wildcard(self) -> bool:
        """`owner/*`: every repository of the owner, found by discovery."""
        return self.full_name.endswith("/*")

    @property
    def owner(self) -> str:
        return self.full_name.partition("/")[0]

    def __str__(self) -> str:
        return f"{self.full_name}@{self.branch}" if self.branch else self.full_name


def _split(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part).strip() for part in value if str(part).strip()]
    raise ValueError(f"expected a comma-separated string, got {type(value).__name__}")


def parse_roots(value: object) -> dict[str, str]:
    """`CATALOG_ROOTS`: `folder:type` pairs (or a mapping) to {folder: type}; errors name the
    entry."""
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        pairs = [(str(folder), str(item_type)) for folder, item_type in value.items()]
    else:
        for part in _split(value):
            folder, sep, item_type = part.partition(":")
            if not sep:
                raise ValueError(
                    f"CATALOG_ROOTS entry {shown(part)} is not 'folder:type' (e.g. 'skills:skill')"
                )
            pairs.append((folder, item_type))
    roots: dict[str, str] = {}
    for raw_folder, raw_type in pairs:
        folder, item_type = raw_folder.strip().strip("/"), raw_type.strip()
        entry = shown(f"{raw_folder.strip()}:{item_type}")
        if not folder or "/" in folder or folder.startswith("."):
            raise ValueError(
                f"CATALOG_ROOTS entry {entry}: the folder must be one top-level folder name "
                "(not empty, no '/', not starting with '.')"
            )
        if item_type not in _ITEM_TYPES:
            raise ValueError(
                f"CATALOG_ROOTS entry {entry}: the type must be one of {', '.join(_ITEM_TYPES)}"
            )
        if roots.get(folder, item_type) != item_type:
            raise ValueError(f"CATALOG_ROOTS names the folder {folder!r} twice, with two types")
        roots[folder] = item_type
    return roots


def default_database_url() -> str:
    """The embedded default: a SQLite file in the working directory."""
    return f"sqlite:///{Path.cwd() / 'catalog-sync.sqlite'}"


def default_broker_url() -> str:
    """The embedded broker: kombu's SQLAlchemy transport on a SQLite file; no server needed."""
    return f"sqla+sqlite:///{Path.cwd() / 'catalog-sync-broker.sqlite'}"


class Settings(BaseSettings):
    """Every setting of the contract; field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, allow_inf_nan=False
    )

    database_url: str = Field(default_factory=default_database_url)
    celery_broker_url: str = Field(default_factory=default_broker_url)
    github_api_url: str = "https://api.github.com"
    github_token: SecretStr | None = None
    github_app_id: str | None = None
    github_app_private_key: SecretStr | None = None
    github_app_installation_id: int | None = Field(default=None, ge=1)
    github_webhook_secret: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    catalog_repos: Annotated[list[RepoSpec], NoDecode] = Field(default_factory=list)
    catalog_roots: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {"skills": "skill", "mcps": "mcp", "tools": "tool"}
    )
    # Polling GitHub more often than once a second only burns the rate limit.
    poll_interval_seconds: float = Field(default=60, ge=1, le=DAY_S)
    max_file_bytes: int = Field(default=MIB, ge=1, le=100 * MIB)
    # GitHub sends at most 25 MiB; below 1 KiB even a ping would be refused.
    max_webhook_bytes: int = Field(default=25 * MIB, ge=1024, le=100 * MIB)
    catalog_default_author: str = "catalog-sync"
    changes_retention_days: float = Field(default=90, gt=0, le=36500, allow_inf_nan=False)
    #: How verdicts are reported on GitHub; unset: `checks` for an App, `status` for a token.
    github_feedback: Literal["checks", "status", "off"] | None = None
    #: Link of a check run or commit status; `{repository}` and `{sha}` are filled in.
    catalog_feedback_url: str | None = None
    catalog_topic: str | None = None
    discovery_interval_seconds: float = Field(default=600, ge=10, le=86_400)
    retire_after_seconds: float = Field(default=86_400, ge=0, le=90 * 86_400)
    # Beyond the contract: tuning knobs with safe defaults.
    max_delete_fraction: float = Field(default=0.5, gt=0, le=1)
    tarball_threshold: int = Field(default=50, ge=0, le=100_000)
    github_timeout_seconds: float = Field(default=30, ge=1, le=600)
    rate_limit_max_wait_seconds: float = Field(default=60, ge=0, le=3600)
    sweep_interval_seconds: float = Field(default=30, ge=1, le=DAY_S)
    delivery_max_attempts: int = Field(default=10, ge=1, le=1000)

    @field_validator("github_webhook_secret", mode="before")
    @classmethod
    def _secrets(cls, value: object) -> list[str]:
        return _split(value)

    @field_validator("catalog_repos", mode="before")
    @classmethod
    def _repos(cls, value: object) -> list[RepoSpec]:
        if isinstance(value, list) and all(isinstance(v, RepoSpec) for v in value):
            return value
        return [RepoSpec.parse(part) for part in _split(value)]

    @field_validator("catalog_roots", mode="before")
    @classmethod
    def _roots(cls, value: object) -> dict[str, str]:
        return parse_roots(value)

    @field_validator("catalog_default_author")
    @classmethod
    def _author(cls, value: str) -> str:
        login = value.strip().removeprefix("@")
        if not _LOGIN_RE.match(login):
            raise ValueError(
                f"CATALOG_DEFAULT_AUTHOR {shown(value)} is not a GitHub login (1 to 39 letters, "
                "digits, '-' or '_', starting with a letter or digit)"
            )
        return login

    @field_validator("github_app_id")
    @classmethod
    def _app_id(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9._-]{1,100}$", value.strip()):
            raise ValueError(
                f"GITHUB_APP_ID {shown(value)} is not a GitHub App id (its number, e.g. 123456, "
                "or its client id, e.g. Iv23li...)"
            )
        return value.strip() if value is not None else None

    @field_validator("github_feedback", mode="before")
    @classmethod
    def _feedback(cls, value: object) -> object:
        return value.strip().lower() or None if isinstance(value, str) else value

    @field_validator("catalog_feedback_url")
    @classmethod
    def _feedback_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"CATALOG_FEEDBACK_URL {value!r} must start with http:// or https://")
        return value

    @field_validator("catalog_topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        topic = (value or "").strip().lower()  # GitHub stores topics in lower case
        if topic and not _TOPIC_RE.match(topic):
            raise ValueError(f"CATALOG_TOPIC {value!r} is not a GitHub topic (a-z, 0-9, '-')")
        return topic or None

    @field_validator("github_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"GITHUB_API_URL {shown(value)} must be an http:// or https:// URL "
                "(e.g. https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise)"
            )
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError:
            raise ValueError(
                "DATABASE_URL is not a SQLAlchemy URL (e.g. sqlite:///catalog-sync.sqlite or "
                "postgresql+psycopg2://USER:PASSWORD@HOST:5432/DB)"
            ) from None
        return value

    @field_validator("celery_broker_url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError(
                "CELERY_BROKER_URL is not a broker URL (e.g. redis://HOST:6379/0; unset: the "
                "embedded broker)"
            )
        return value

    @property
    def webhook_secrets(self) -> list[bytes]:
        """The accepted HMAC secrets as bytes; empty secrets are never accepted."""
        return [s.get_secret_value().encode() for s in self.github_webhook_secret if s]

    @property
    def uses_github_app(self) -> bool:
        return bool(
            self.github_app_id and self.github_app_private_key and self.github_app_installation_id
        )

    @property
    def feedback_mode(self) -> str:
        """`GITHUB_FEEDBACK`, or its default: check runs need an App, a token posts statuses."""
        if self.github_feedback is not None:
            return self.github_feedback
        if self.uses_github_app:
            return "checks"
        return "status" if self.github_token is not None else "off"

    @property
    def explicit_repos(self) -> list[RepoSpec]:
        """The `owner/name[@branch]` entries of `CATALOG_REPOS` (not the `owner/*` ones)."""
        return [spec for spec in self.catalog_repos if not spec.is_wildcard]

    def repo_spec(self, full_name: str) -> RepoSpec | None:
        """The explicit spec for a repository name (case-insensitive, as GitHub names are)."""
        for spec in self.explicit_repos:
            if spec.full_name.lower() == full_name.lower():
                return spec
        return None


# --- unknown variables -------------------------------------------------------------------------

#: What GitHub Actions sets in every job (`catalog-sync lint` runs there): not our settings.
_GITHUB_ACTIONS_VARIABLES = frozenset(
    f"GITHUB_{name}"
    for name in (  # noqa: SIM905 (a list literal would take 37 lines)
        "ACTION ACTION_PATH ACTION_REF ACTION_REPOSITORY ACTIONS ACTOR ACTOR_ID BASE_REF ENV "
        "EVENT_NAME EVENT_PATH GRAPHQL_URL HEAD_REF JOB OUTPUT PATH REF REF_NAME REF_PROTECTED "
        "REF_TYPE REPOSITORY REPOSITORY_ID REPOSITORY_OWNER REPOSITORY_OWNER_ID RETENTION_DAYS "
        "RUN_ATTEMPT RUN_ID RUN_NUMBER SERVER_URL SHA STATE STEP_SUMMARY TRIGGERING_ACTOR "
        "WORKFLOW WORKFLOW_REF WORKFLOW_SHA WORKSPACE"
    ).split()
)
#: How alike a name must be to a setting to be called a misspelling of it (the shared
#: `CATALOG_` prefix alone scores about 0.65).
_CLOSE_ENOUGH = 0.75
#: Tooling of this project (compose's image tag, the test suite's servers), not settings.
_TOOLING_PREFIX = "CATALOG_SYNC_"


def unknown_settings(names: Iterable[str], where: str) -> list[str]:
    """One warning per `CATALOG_*`/`GITHUB_*` name that is no setting, with the closest one."""
    known = [field.upper() for field in Settings.model_fields]
    warnings = []
    for name in sorted({n.upper() for n in names}):
        if (
            not name.startswith(("CATALOG_", "GITHUB_"))
            or name.startswith(_TOOLING_PREFIX)
            or name in known
            or name in _GITHUB_ACTIONS_VARIABLES
        ):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=_CLOSE_ENOUGH)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"unknown setting {name} in {where}{hint}; it is ignored")
    return warnings


#: Set once the warnings are out, so that the processes `catalog-sync run` starts (which inherit
#: its environment) do not repeat them.
WARNED_MARK = f"{_TOOLING_PREFIX}SETTINGS_WARNED"


def warn_unknown_settings(env_file: Path = Path(".env")) -> list[str]:
    """Log a warning for each unknown name in the environment and in `.env`, once per process
    tree."""
    if os.environ.get(WARNED_MARK):
        return []
    found = unknown_settings(os.environ, "the environment")
    if env_file.is_file():
        found += unknown_settings(dotenv_values(env_file), str(env_file))
    for line in found:
        log.warning(line)  # the CLI has no log handler: Python prints it to stderr as it is
    os.environ[WARNED_MARK] = "1"
    return found


def settings_or_exit(exit_code: int = 2) -> Settings:
    """The settings for a server process (gunicorn, Celery): a malformed one is one line on
    stderr and an exit, not a traceback. gunicorn stops (rather than respawns a worker) on
    its `APP_LOAD_ERROR`, 4; everything else uses 2, as the CLI does."""
    try:
        return get_settings()
    except ValidationError as exc:
        from worker.settings_errors import settings_error_line  # rendering lives with the CLI's

        print(f"catalog-sync: {settings_error_line(exc)}", file=sys.stderr, flush=True)
        raise SystemExit(exit_code) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once, when first needed (never at import)."""
    warn_unknown_settings()
    return Settings()
