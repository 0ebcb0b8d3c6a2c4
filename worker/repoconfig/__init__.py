"""A repository's own `.catalog-sync.yml`: where its catalog lives and what to ignore.

`parse` reads and validates the file (pure); `resolve` decides, during a reconcile, which rules
apply to the repository, reading the file only when its blob SHA changed.
"""
