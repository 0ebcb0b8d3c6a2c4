"""Deployment files; `commands.json` is installed as package data of `worker._deploy`.

Being a package lets `importlib.resources` find the process commands in an installed wheel as
in a checkout (see pyproject.toml); the rest of this folder is not installed.
"""
