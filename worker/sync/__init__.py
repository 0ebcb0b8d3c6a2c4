"""Turning a catalog tree (a folder or a GitHub tree) into catalog items.

Read in this order: `entries` (tree entries, blob SHAs), `layout` (which paths are items),
`safe_yaml` and `parse` (what an item file says), `storable` (what the database can hold),
`source` and `folder` (where trees come from), `plan` (desired state versus rows, pure),
`apply` and `people` (the writes), `repo_state` (the repository row and `sync_runs`), `run`
(request, options, result) and `reconcile` (one run end to end). `lint` checks a folder with
the same rules, offline.
Nothing here imports Celery, kombu, Flask or the settings module.
"""
