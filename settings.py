"""Settings for every catalog-sync process, read from the environment and `.env`.

One class, validated once at start-up, so that a typo in `CATALOG_REPOS` fails loudly at boot
instead of silently watching nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_OWNER_WILDCARD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/\*$")
_TOPIC_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
_ITEM_TYPES = ("skill", "mcp", "tool")


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
                f"CATALOG_REPOS entry {entry!r} is not 'owner/name', 'owner/name@branch' "
                "or 'owner/*'"
            )
        return cls(full_name=name, branch=branch.strip() or None)

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


def default_database_url() -> str:
    """The embedded default: a SQLite file in the working directory."""
    return f"sqlite:///{Path.cwd() / 'catalog-sync.sqlite'}"


def default_broker_url() -> str:
    """The embedded broker: kombu's SQLAlchemy transport on a SQLite file; no server needed."""
    return f"sqla+sqlite:///{Path.cwd() / 'catalog-sync-broker.sqlite'}"


class Settings(BaseSettings):
    """Every setting of the contract; field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = Field(default_factory=default_database_url)
    celery_broker_url: str = Field(default_factory=default_broker_url)
    github_api_url: str = "https://api.github.com"
    github_token: SecretStr | None = None
    github_app_id: str | None = None
    github_app_private_key: SecretStr | None = None
    github_app_installation_id: int | None = None
    github_webhook_secret: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    catalog_repos: Annotated[list[RepoSpec], NoDecode] = Field(default_factory=list)
    catalog_roots: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {"skills": "skill", "mcps": "mcp", "tools": "tool"}
    )
    poll_interval_seconds: float = Field(default=60, gt=0)
    max_file_bytes: int = Field(default=1_048_576, gt=0)
    max_webhook_bytes: int = Field(default=26_214_400, gt=0)
    catalog_default_author: str = "catalog-sync"
    catalog_topic: str | None = None
    discovery_interval_seconds: float = Field(default=600, ge=10, le=86_400)
    retire_after_seconds: float = Field(default=86_400, ge=0, le=90 * 86_400)
    # Beyond the contract: tuning knobs with safe defaults.
    max_delete_fraction: float = Field(default=0.5, ge=0, le=1)
    tarball_threshold: int = Field(default=50, ge=0)
    github_timeout_seconds: float = Field(default=30, gt=0)
    rate_limit_max_wait_seconds: float = Field(default=60, ge=0)
    sweep_interval_seconds: float = Field(default=30, gt=0)
    delivery_max_attempts: int = Field(default=10, gt=0)

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
        if isinstance(value, dict):
            pairs = list(value.items())
        else:
            pairs = []
            for part in _split(value):
                folder, sep, item_type = part.partition(":")
                if not sep or not folder.strip() or "/" in folder.strip("/"):
                    raise ValueError(
                        f"CATALOG_ROOTS entry {part!r} is not 'folder:type' (e.g. 'skills:skill')"
                    )
                pairs.append((folder, item_type))
        roots: dict[str, str] = {}
        for folder, item_type in pairs:
            item_type = str(item_type).strip()
            if item_type not in _ITEM_TYPES:
                raise ValueError(
                    f"CATALOG_ROOTS entry {folder}:{item_type}: type must be one of "
                    f"{', '.join(_ITEM_TYPES)}"
                )
            roots[str(folder).strip().strip("/")] = item_type
        return roots

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
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"GITHUB_API_URL {value!r} must start with http:// or https://")
        return value.rstrip("/")

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
    def explicit_repos(self) -> list[RepoSpec]:
        """The `owner/name[@branch]` entries of `CATALOG_REPOS` (not the `owner/*` ones)."""
        return [spec for spec in self.catalog_repos if not spec.is_wildcard]

    def repo_spec(self, full_name: str) -> RepoSpec | None:
        """The explicit spec for a repository name (case-insensitive, as GitHub names are)."""
        for spec in self.explicit_repos:
            if spec.full_name.lower() == full_name.lower():
                return spec
        return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
