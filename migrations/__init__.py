"""Alembic's migrations, installed as the package `models._migrations` (see pyproject.toml).

Being a package lets `importlib.resources` find them in an installed wheel as in a checkout.
"""
