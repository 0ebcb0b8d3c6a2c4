"""GitHub: `client` (the one door: counting, errors) with `auth` (token or App) and `retry`
(backoff, rate limits); `source` (a repository as a catalog source) with `tarball` (streamed
reads, spooled listings); `redelivery` (re-sending missed webhook deliveries)."""
