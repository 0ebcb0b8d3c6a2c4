"""Settings: every bound, every malformed entry, and the one line an operator reads for each.

Values are given as the environment gives them (strings). Each refused value must produce one
line that names the variable, quotes the bad entry and says what is allowed.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from models.tables import User
from settings import WARNED_MARK, RepoSpec, Settings, unknown_settings, warn_unknown_settings
from worker.settings_errors import allowed, settings_error_line

MIB = 1_048_576

#: field: (smallest accepted, largest accepted, whether the smallest is exclusive)
BOUNDS: dict[str, tuple[float, float | None, bool]] = {
    "poll_interval_seconds": (1, 86_400, False),
    "max_file_bytes": (1, 100 * MIB, False),
    "max_webhook_bytes": (1024, 100 * MIB, False),
    "max_delete_fraction": (0, 1, True),
    "tarball_threshold": (0, 100_000, False),
    "github_timeout_seconds": (1, 600, False),
    "rate_limit_max_wait_seconds": (0, 3600, False),
    "sweep_interval_seconds": (1, 86_400, False),
    "delivery_max_attempts": (1, 1000, False),
    "github_app_installation_id": (1, None, False),
    "changes_retention_days": (0, 36_500, True),
    "discovery_interval_seconds": (10, 86_400, False),
    "retire_after_seconds": (0, 90 * 86_400, False),
}
FLOATS = [f for f, info in Settings.model_fields.items() if info.annotation is float]


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Only what a test passes counts: no variable of this shell, no `.env` of the checkout."""
    for name in list(os.environ):
        if name.upper() in {f.upper() for f in Settings.model_fields}:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def _line(**values: Any) -> str:
    """The error line for these values (the test fails if they are accepted)."""
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **values)
    line = settings_error_line(caught.value)
    assert "\n" not in line and line.startswith("invalid setting"), line
    return line


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --- numeric bounds ------------------------------------------------------------------------------


def test_every_numeric_setting_has_declared_bounds() -> None:
    numeric = {
        name
        for name, info in Settings.model_fields.items()
        if any(t in str(info.annotation) for t in ("int", "float"))
    }
    assert numeric == set(BOUNDS)


@pytest.mark.parametrize("field", sorted(BOUNDS))
def test_bounds_are_accepted_at_the_edges(field: str) -> None:
    low, high, exclusive = BOUNDS[field]
    edges = [low + 0.001 if exclusive else low] + ([high] if high is not None else [])
    for value in edges:
        text = (
            _number(value) if "int" in str(Settings.model_fields[field].annotation) else str(value)
        )
        assert getattr(Settings(_env_file=None, **{field: text}), field) == pytest.approx(value)


@pytest.mark.parametrize("field", sorted(BOUNDS))
def test_below_the_minimum_is_refused_naming_the_variable_and_the_range(field: str) -> None:
    low, high, exclusive = BOUNDS[field]
    below = low if exclusive else low - 1
    line = _line(**{field: _number(below)})
    assert f"{field.upper()}='{_number(below)}'" in line
    bound = ("more than " if exclusive else "at least ") + _number(low)
    assert f"allowed: {allowed(field)}" in line and bound in line
    if high is not None:
        assert f"at most {_number(high)}" in line


@pytest.mark.parametrize("field", sorted(f for f, (_, high, _) in BOUNDS.items() if high))
def test_above_the_maximum_is_refused(field: str) -> None:
    high = BOUNDS[field][1]
    assert high is not None
    line = _line(**{field: _number(high * 10)})
    assert f"{field.upper()}='{_number(high * 10)}'" in line
    assert f"at most {_number(high)}" in line


@pytest.mark.parametrize("field", FLOATS)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity"])
def test_floats_must_be_finite(field: str, value: str) -> None:
    line = _line(**{field: value})
    assert f"{field.upper()}='{value}'" in line and "finite number" in line


def test_poll_interval_zero_and_inf_are_refused() -> None:
    assert "POLL_INTERVAL_SECONDS='0'" in _line(poll_interval_seconds="0")
    assert "input should be a finite number" in _line(poll_interval_seconds="inf")


def test_max_delete_fraction_is_in_zero_one() -> None:
    assert "more than 0 and at most 1" in _line(max_delete_fraction="0")
    assert "MAX_DELETE_FRACTION='1.5'" in _line(max_delete_fraction="1.5")
    assert Settings(_env_file=None, max_delete_fraction="1").max_delete_fraction == 1


def test_not_a_number_says_so() -> None:
    line = _line(delivery_max_attempts="ten")
    assert "DELIVERY_MAX_ATTEMPTS='ten'" in line and "valid integer" in line
    assert "a whole number, at least 1 and at most 1000" in line
    assert "valid number" in _line(github_timeout_seconds="30s")


def test_allowed_describes_type_and_bounds() -> None:
    assert allowed("poll_interval_seconds") == "a finite number, at least 1 and at most 86400"
    assert allowed("max_delete_fraction") == "a finite number, more than 0 and at most 1"
    assert allowed("github_app_installation_id") == "a whole number, at least 1"
    assert allowed("catalog_default_author") == "text"


# --- CATALOG_REPOS -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "acme",
        "acme/",
        "/catalog",
        "-acme/catalog",
        "acme/cat alog",
        "acme/catalog@",
        "a" * 40 + "/x",
    ],
)
def test_malformed_repository_entries_are_named(entry: str) -> None:
    line = _line(catalog_repos=f"acme/good, {entry}")
    assert f"CATALOG_REPOS entry {entry[:37]!r}"[:-1] in line
    assert "'owner/name', 'owner/name@branch' or 'owner/*'" in line
    assert "acme/good" not in line


@pytest.mark.parametrize(
    "branch",
    ["a b", "bad..branch", "-x", "/x", "x/", "x.", "x.lock", "a~1", "a^", "a:b", "a?", "a*", "a[b",
     "a\\b", "a@{1}", "a//b", "b" * 256],
)  # fmt: skip
def test_malformed_branches_are_named(branch: str) -> None:
    line = _line(catalog_repos=f"acme/catalog@{branch}")
    assert "CATALOG_REPOS entry 'acme/catalog@" in line and "is not a git branch name" in line
    assert "at most 255 characters" in line


@pytest.mark.parametrize("branch", ["main", "release/1.2", "feature/x-y_z", "v1@2", "b" * 255])
def test_valid_branches_are_kept(branch: str) -> None:
    spec = Settings(_env_file=None, catalog_repos=f"acme/catalog@{branch}").catalog_repos[0]
    assert spec == RepoSpec("acme/catalog", branch)


def test_repository_entries_are_trimmed_and_split_on_commas() -> None:
    settings = Settings(_env_file=None, catalog_repos=" acme/a , acme/b@dev ,")
    assert [str(s) for s in settings.catalog_repos] == ["acme/a", "acme/b@dev"]


def test_a_long_entry_is_cut_in_the_message_with_its_length() -> None:
    entry = "x" * 300
    line = _line(catalog_repos=entry)
    assert "(300 characters)" in line and entry not in line


# --- CATALOG_ROOTS -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "named", "why"),
    [
        ("skills", "'skills'", "is not 'folder:type'"),
        ("skills:skill,mcps", "'mcps'", "is not 'folder:type'"),
        (":skill", "':skill'", "one top-level folder name"),
        ("a/b:skill", "'a/b:skill'", "one top-level folder name"),
        (".github:skill", "'.github:skill'", "not starting with '.'"),
        ("skills:agent", "'skills:agent'", "must be one of skill, mcp, tool"),
        ("skills:", "'skills:'", "must be one of skill, mcp, tool"),
    ],
)
def test_malformed_roots_are_named(value: str, named: str, why: str) -> None:
    line = _line(catalog_roots=value)
    assert f"CATALOG_ROOTS entry {named}" in line and why in line


def test_a_folder_given_two_types_is_refused() -> None:
    line = _line(catalog_roots="a:skill,b:mcp,a:tool")
    assert "CATALOG_ROOTS names the folder 'a' twice" in line


def test_roots_are_trimmed_of_spaces_and_slashes() -> None:
    settings = Settings(_env_file=None, catalog_roots=" /skills/ :skill, mcps:mcp ,a:skill,a:skill")
    assert settings.catalog_roots == {"skills": "skill", "mcps": "mcp", "a": "skill"}


# --- CATALOG_DEFAULT_AUTHOR ----------------------------------------------------------------------


def test_default_author_fits_the_users_username_column() -> None:
    width = User.__table__.c.username.type.length  # type: ignore[attr-defined]
    assert Settings(_env_file=None, catalog_default_author="a" * 39).catalog_default_author
    assert width >= 39
    line = _line(catalog_default_author="a" * 150)
    assert "CATALOG_DEFAULT_AUTHOR 'aaaa" in line and "(150 characters)" in line
    assert "1 to 39 letters" in line


@pytest.mark.parametrize("login", ["a" * 40, "-octocat", "octo cat", "octo@cat", "", "[bot]x"])
def test_default_author_must_be_a_github_login(login: str) -> None:
    line = _line(catalog_default_author=login)
    assert f"CATALOG_DEFAULT_AUTHOR {login!r}" in line and "is not a GitHub login" in line


@pytest.mark.parametrize(
    ("given", "kept"), [("octocat", "octocat"), ("@octocat", "octocat"), ("user_corp", "user_corp")]
)
def test_valid_default_authors(given: str, kept: str) -> None:
    assert Settings(_env_file=None, catalog_default_author=given).catalog_default_author == kept


# --- URLs and GitHub App ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://x", "api.github.com", "https://", "https:// x"])
def test_github_api_url_must_be_http(url: str) -> None:
    line = _line(github_api_url=url)
    assert f"GITHUB_API_URL {url!r}" in line and "http:// or https://" in line


def test_github_api_url_loses_its_trailing_slash() -> None:
    url = Settings(_env_file=None, github_api_url="https://ghe.example/api/v3/").github_api_url
    assert url == "https://ghe.example/api/v3"


def test_database_url_must_parse_and_is_never_quoted() -> None:
    line = _line(database_url="postgres ql://u:hunter2@db")
    assert "DATABASE_URL is not a SQLAlchemy URL" in line and "hunter2" not in line
    typed = _line(database_url=["postgresql://u:hunter2@db/x"])
    assert typed.startswith("invalid setting: DATABASE_URL: ") and "hunter2" not in typed


def test_broker_url_must_be_a_url_and_is_never_quoted() -> None:
    line = _line(celery_broker_url="redis-host:6379")
    assert "CELERY_BROKER_URL is not a broker URL" in line and "redis-host" not in line


def test_github_app_ids() -> None:
    assert "GITHUB_APP_ID 'a b' is not a GitHub App id" in _line(github_app_id="a b")
    assert Settings(_env_file=None, github_app_id=" 123456 ").github_app_id == "123456"
    line = _line(github_app_installation_id="0")
    assert "GITHUB_APP_INSTALLATION_ID='0'" in line and "at least 1" in line


# --- the line ------------------------------------------------------------------------------------


def test_several_mistakes_share_one_line() -> None:
    line = _line(poll_interval_seconds="0", catalog_repos="acme", catalog_roots="skills")
    assert line.startswith("invalid settings: ")
    assert line.count("; ") >= 2
    for name in ("POLL_INTERVAL_SECONDS", "CATALOG_REPOS", "CATALOG_ROOTS"):
        assert name in line


def test_env_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "inf")
    assert "POLL_INTERVAL_SECONDS='inf'" in _line()
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "2.5")
    assert math.isclose(Settings(_env_file=None).poll_interval_seconds, 2.5)


def test_defaults_are_valid() -> None:
    settings = Settings(_env_file=None)
    for field, (low, high, _) in BOUNDS.items():
        value = getattr(settings, field)
        assert value is None or (low <= value and (high is None or value <= high)), field


# --- unknown variables -----------------------------------------------------------------------------


def test_misspelled_settings_are_named_with_the_closest_one() -> None:
    warnings = unknown_settings(["CATALOG_REPO", "github_tokn", "PATH"], "the environment")
    assert warnings == [
        "unknown setting CATALOG_REPO in the environment (did you mean CATALOG_REPOS?); "
        "it is ignored",
        "unknown setting GITHUB_TOKN in the environment (did you mean GITHUB_TOKEN?); "
        "it is ignored",
    ]


def test_an_unknown_name_far_from_any_setting_has_no_guess() -> None:
    assert unknown_settings(["CATALOG_XYZZY"], ".env") == [
        "unknown setting CATALOG_XYZZY in .env; it is ignored"
    ]


def test_known_settings_and_other_tools_variables_are_not_warned_about() -> None:
    names = [
        *(f.upper() for f in Settings.model_fields),
        "catalog_repos",  # settings are case-insensitive
        "GITHUB_ACTIONS",  # GitHub Actions sets these in every job `lint` runs in
        "GITHUB_SHA",
        "GITHUB_WORKSPACE",
        "CATALOG_SYNC_IMAGE",  # compose's image tag
        "CATALOG_SYNC_TEST_PG_URL",  # the test suite's servers
        "POSTGRES_PASSWORD",
        "HOME",
    ]
    assert unknown_settings(names, "the environment") == []


def test_unknown_names_in_env_and_dotenv_are_logged_once_each(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CATALOG_REPO", "acme/x")
    monkeypatch.setenv(WARNED_MARK, "")  # not warned yet (and unset again after the test)
    dotenv = tmp_path / ".env"
    dotenv.write_text("CATALOG_ROOT=skills:skill\nPOSTGRES_USER=catalog\nCATALOG_REPOS=acme/y\n")
    with caplog.at_level(logging.WARNING, logger="catalog_sync.settings"):
        found = warn_unknown_settings(dotenv)
        again = warn_unknown_settings(dotenv)  # e.g. in a process `catalog-sync run` started
    assert found == [
        "unknown setting CATALOG_REPO in the environment (did you mean CATALOG_REPOS?); "
        "it is ignored",
        f"unknown setting CATALOG_ROOT in {dotenv} (did you mean CATALOG_ROOTS?); it is ignored",
    ]
    assert [r.getMessage() for r in caplog.records] == found
    assert again == [] and os.environ[WARNED_MARK] == "1"
