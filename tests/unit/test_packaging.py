"""The distribution carries what an installed `catalog-sync` needs outside a checkout.

pyproject.toml lists its packages by hand (two are folders mapped from the top level), so these
checks catch a new package left out of the wheel, package data that Alembic or `run` needs but
the wheel would not carry, and `models.migrate`'s Alembic options drifting from alembic.ini.
The wheel itself is built, installed and run by tests/e2e/test_wheel.py.
"""

from __future__ import annotations

import configparser
import json
import tomllib
from pathlib import Path
from typing import Any

from models.migrate import ALEMBIC_OPTIONS, alembic_config, script_location
from worker.cli.run import COMMANDS_FILE

ROOT = Path(__file__).resolve().parents[2]


def _setuptools() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _package_folder(name: str, package_dir: dict[str, str]) -> Path:
    """The source folder of a package, as setuptools maps it (longest mapped prefix wins)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in package_dir:
            return ROOT / package_dir[prefix] / Path(*parts[cut:])
    return ROOT / Path(*parts)


def test_every_python_package_of_the_checkout_is_in_the_wheel() -> None:
    listed = set(_setuptools()["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("models", "webhook", "worker")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), "pyproject.toml [tool.setuptools] packages misses these"


def test_every_listed_package_has_a_source_folder() -> None:
    config = _setuptools()
    for name in config["packages"]:
        folder = _package_folder(name, config.get("package-dir", {}))
        assert folder.is_dir(), f"{name}: {folder} does not exist"


def test_alembic_and_run_files_are_package_data() -> None:
    config = _setuptools()
    package_dir, data = config["package-dir"], config["package-data"]
    assert package_dir["models._migrations"] == "migrations"
    assert package_dir["worker._deploy"] == "deploy"
    assert "commands.json" in data["worker._deploy"]
    templates = {p.name for p in (ROOT / "migrations").glob("*.mako")}
    assert templates and templates <= set(data["models._migrations"])
    assert {"models._migrations", "models._migrations.versions"} <= set(config["packages"])


def test_migrations_and_commands_are_found_through_the_import_system() -> None:
    assert script_location() == ROOT / "migrations"
    assert (script_location() / "env.py").is_file()
    assert json.loads(COMMANDS_FILE.read_text()) == json.loads(
        (ROOT / "deploy" / "commands.json").read_text()
    )


def test_code_alembic_config_matches_alembic_ini() -> None:
    ini = configparser.RawConfigParser()
    ini.read(ROOT / "alembic.ini")
    from_ini = dict(ini["alembic"])
    assert from_ini.pop("script_location") == "%(here)s/migrations"
    assert from_ini.pop("prepend_sys_path") == "."  # the root on sys.path: a checkout only
    assert from_ini == ALEMBIC_OPTIONS


def test_code_alembic_config_points_at_the_packaged_migrations() -> None:
    config = alembic_config("sqlite:///nowhere.sqlite")
    assert config.config_file_name is None  # no alembic.ini needed
    assert config.get_main_option("script_location") == str(script_location())
    assert (
        config.get_main_option("file_template") == "%(year)d%(month).2d%(day).2d_%(rev)s_%(slug)s"
    )
    assert config.attributes["database_url"] == "sqlite:///nowhere.sqlite"
