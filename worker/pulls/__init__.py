"""Pull-request validation: a catalog change gets its verdict before it is merged.

`refs` (how a stored delivery names its pull request), `github` (the pull request and its
changed files, read from GitHub), `changes` (changed files, pure), `rules` (checks across
files, pure), `verdict` (the pull request's verdict, pure), `validate` (read only the changed
catalog files and check them as a reconcile would, writing no row), `run` (what the task
does: validate once per head commit and report it).
"""
