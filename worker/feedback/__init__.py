"""Verdicts on GitHub: what authors see of catalog-sync's answer, where they already look.

`verdict` (the model and GitHub's limits, pure), `synced` (the verdict on a synced commit,
pure), `post` (a check run or a commit status through `GitHubClient`), `records` (the
`feedback_reports` rows), `report` (after a reconcile: once per commit, never failing),
`metrics` (posted and failed, by kind, for `/metrics`), `actions` (GitHub Actions workflow
commands for `catalog-sync lint --format github`, pure).
"""
