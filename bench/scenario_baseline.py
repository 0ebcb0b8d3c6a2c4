"""Scenario: the naive PyGithub sync catalog-sync is compared with, in this process.

    python -m bench.scenario_baseline DATABASE_URL API_URL TOKEN OWNER/NAME [--limit N]

Written the way PyGithub users usually write it: list the tree recursively, then one
`get_contents(path, ref)` per item file, parse its front matter, one upsert per row, one commit
at the end (kinder to the baseline than a commit per row). PyGithub's default pacing
(`seconds_between_requests=0.25`) is switched off, so the baseline is not slowed by a throttle.

`--limit N` reads only the first N item files (the listing is still the whole tree): the
caller extrapolates per file. Prints one JSON line: listing seconds, per-file seconds, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import time

import psycopg2
import yaml
from github import Auth, Github

from bench.common import emit, peak_rss_mb

DDL = """
CREATE TABLE IF NOT EXISTS skills (
    path text PRIMARY KEY,
    sha text NOT NULL,
    name text,
    description text,
    tags jsonb,
    body text,
    synced_at timestamptz NOT NULL DEFAULT now()
)
"""
UPSERT = """
INSERT INTO skills (path, sha, name, description, tags, body)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (path) DO UPDATE SET sha = EXCLUDED.sha, name = EXCLUDED.name,
    description = EXCLUDED.description, tags = EXCLUDED.tags, body = EXCLUDED.body,
    synced_at = now()
"""


def front_matter(text: str) -> tuple[dict[str, object], str]:
    if text.startswith("---\n"):
        head, _, body = text[4:].partition("\n---\n")
        meta = yaml.safe_load(head)
        return (meta if isinstance(meta, dict) else {}), body
    return {}, text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("api_url")
    parser.add_argument("token")
    parser.add_argument("full_name")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    dsn = args.url.replace("postgresql+psycopg2://", "postgresql://")

    start = time.perf_counter()
    gh = Github(
        auth=Auth.Token(args.token),
        base_url=args.api_url,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    repo = gh.get_repo(args.full_name)
    branch = repo.default_branch
    tree = repo.get_git_tree(branch, recursive=True)
    files = [e for e in tree.tree if e.type == "blob" and e.path.endswith("SKILL.md")]
    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    cur.execute(DDL)
    listed = time.perf_counter()

    todo = files[: args.limit] if args.limit else files
    for entry in todo:
        content = repo.get_contents(entry.path, ref=branch)
        assert not isinstance(content, list)
        meta, body = front_matter(content.decoded_content.decode())
        cur.execute(
            UPSERT,
            (
                entry.path,
                content.sha,
                meta.get("name"),
                meta.get("description"),
                json.dumps(meta.get("tags")),
                body,
            ),
        )
    conn.commit()
    done = time.perf_counter()
    cur.execute("SELECT count(*) FROM skills")
    rows = cur.fetchone()
    conn.close()
    emit(
        {
            "list_seconds": listed - start,
            "files_seconds": done - listed,
            "files_read": len(todo),
            "files_total": len(files),
            "rows": rows[0] if rows else 0,
            "rss_mb": peak_rss_mb(),
        }
    )


if __name__ == "__main__":
    main()
