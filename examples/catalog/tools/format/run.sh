#!/bin/sh
# Asset of the format tool.
set -eu
ruff format .
