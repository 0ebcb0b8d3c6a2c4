"""Many repositories: discovery (`owner/*`, App installations), and each repository's lifecycle.

Pure parts (`sources`, `desired`, `plan`) decide; I/O parts (`listing` for GitHub, `lifecycle`
and `watching` for the database, `run` to tie them) carry the decisions out.
"""
