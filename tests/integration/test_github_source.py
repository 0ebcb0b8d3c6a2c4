"""GitHubSource and GitHubClient against the fake GitHub, over real HTTP.

What issue 5 asks to see: the request budget of a cold sync, of a 4-file change and of an
unchanged poll; surviving 502s and rate limits; clear, secret-free errors; truncated trees; and
GitHub App auth with token refresh.
"""

from __future__ import annotations

import logging
import time
import traceback
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.github import FakeGitHub, RecordingReceiver, blob_sha, rsa_key_pair
from worker.errors import AuthError, NotFoundError, RateLimitedError, TransientSourceError
from worker.github.client import GitHubClient
from worker.github.redelivery import redeliver_failed
from worker.github.retry import RetryPolicy
from worker.sync.entries import MODE_EXEC, MODE_SUBMODULE, MODE_SYMLINK
from worker.sync.source import Head

FAST = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)


def catalog(n: int = 300) -> dict[str, str | bytes]:
    """`n` items in the three roots, plus a README and an asset (n + 2 files)."""
    roots = ("skills", "mcps", "tools")
    files: dict[str, str | bytes] = {
        f"{roots[i % 3]}/item{i:03d}/SKILL.md": f"---\nname: item {i}\n---\nbody {i}\n"
        for i in range(n)
    }
    files["README.md"] = "# catalog\n"
    files["skills/item000/logo.png"] = bytes(range(256))
    return files


def client_for(fake: FakeGitHub, **kwargs) -> GitHubClient:
    kwargs.setdefault("token", fake.token)
    kwargs.setdefault("retry", FAST)
    return GitHubClient(fake.api_url, timeout=5, **kwargs)


def test_cold_sync_of_300_items_is_a_handful_of_requests(fake_github, make_repo, github_client):
    from worker.github.source import GitHubSource

    files = catalog(300)
    repo = make_repo("acme/catalog", files)
    fake_github.reset_log()
    source = GitHubSource(github_client, "acme/catalog", None)
    head = source.head()
    assert head.sha == repo.head and head.etag and not head.not_modified
    listing = source.listing(head)
    assert listing.complete and listing.commit_sha == repo.head
    assert {e.path: e.sha for e in listing.entries} == {
        p: blob_sha(c.encode() if isinstance(c, str) else c) for p, c in files.items()
    }
    wanted = {e.path: e.sha for e in listing.entries}
    got = dict(source.read(head, wanted, bulk=True))
    assert got == {p: c.encode() if isinstance(c, str) else c for p, c in files.items()}
    # head + tree + tarball (302) + codeload download
    assert source.requests == github_client.requests == fake_github.request_count == 4
    assert [r.path.split("/")[-2] for r in fake_github.log[:3]] == ["commits", "trees", "tarball"]


def test_changed_push_reads_4_blobs_and_unchanged_poll_is_one_304(
    fake_github, make_repo, github_client
):
    from worker.github.source import GitHubSource

    repo = make_repo("acme/catalog", catalog(302))
    source = GitHubSource(github_client, "acme/catalog", "main")
    first = source.head()
    before = {e.path: e.sha for e in source.listing(first).entries}
    changed = [f"skills/item{i:03d}/SKILL.md" for i in (0, 3, 6, 9)]
    for path in changed:
        repo.write(path, f"---\nname: {path}\n---\nnew\n")
    repo.commit("four")
    repo.push()

    source = GitHubSource(github_client, "acme/catalog", "main")
    head = source.head(first.etag)
    assert head.sha == repo.head and not head.not_modified
    after = {e.path: e.sha for e in source.listing(head).entries}
    wanted = {p: s for p, s in after.items() if before.get(p) != s}
    assert sorted(wanted) == changed
    got = dict(source.read(head, wanted))
    assert sorted(got) == changed
    assert source.requests == 6  # head, tree, 4 blobs

    fake_github.reset_log()
    remaining = github_client.rate_limit_remaining
    poll = GitHubSource(github_client, "acme/catalog", "main")
    unchanged = poll.head(head.etag)
    assert unchanged == Head(sha=None, etag=head.etag, not_modified=True)
    assert poll.requests == 1
    assert [(r.path, r.status) for r in fake_github.log] == [
        ("/repos/acme/catalog/commits/main", 304)
    ]
    assert github_client.rate_limit_remaining == remaining  # a 304 costs nothing


def test_three_502s_then_success_are_retried_and_counted(fake_github, make_repo, github_client):
    from worker.github.source import GitHubSource

    repo = make_repo("acme/catalog", catalog(5))
    fake_github.fail_next(3, 502, path="/commits/")
    source = GitHubSource(github_client, "acme/catalog", None)
    assert source.head().sha == repo.head
    assert source.requests == 4 == fake_github.count("/commits/")
    fake_github.drop_connections(1, path="/git/trees/")
    fake_github.fail_next(1, 503, path="/_codeload/")
    listing = source.listing(Head(repo.head))
    got = dict(source.read(Head(repo.head), {e.path: e.sha for e in listing.entries}, bulk=True))
    assert len(got) == 7
    # tree twice (dropped, then answered); tarball: 302, 503, then 302 and 200 again
    assert source.requests == 4 + 2 + 4 == fake_github.request_count


def test_timeouts_are_retried_and_pygithub_shares_the_auth(fake_github, make_repo):
    from worker.github.source import GitHubSource

    repo = make_repo("acme/catalog", catalog(5))
    client = client_for(fake_github)
    client.timeout = 0.3
    fake_github.delay_next(1, 1.0, path="/commits/")
    source = GitHubSource(client, "acme/catalog", None)
    assert source.head().sha == repo.head and source.requests == 2
    # the PyGithub object (used by naive baselines) reaches the same fake with the same token
    readme = client.github.get_repo("acme/catalog").get_contents("README.md")
    assert readme.decoded_content == b"# catalog\n"


def test_5xx_beyond_the_attempts_is_a_transient_error(fake_github, make_repo, github_client):
    from worker.github.source import GitHubSource

    make_repo("acme/catalog", catalog(5))
    fake_github.fail_next(10, 502, path="/commits/")
    with pytest.raises(TransientSourceError, match="acme/catalog"):
        GitHubSource(github_client, "acme/catalog", None).head()
    assert fake_github.count("/commits/") == FAST.attempts


def test_primary_rate_limit_with_2s_reset_is_waited_out(fake_github, make_repo, github_client):
    from worker.github.source import GitHubSource

    repo = make_repo("acme/catalog", catalog(5))
    fake_github.exhaust_rate_limit(reset_in=2)
    started = time.monotonic()
    assert GitHubSource(github_client, "acme/catalog", None).head().sha == repo.head
    assert time.monotonic() - started >= 1.0
    assert fake_github.count("/commits/", status=403) >= 1
    assert github_client.rate_limit_remaining == 4999


def test_rate_limit_beyond_the_bound_raises_with_reset_time(fake_github, make_repo):
    from worker.github.source import GitHubSource

    make_repo("acme/catalog", catalog(5))
    fake_github.exhaust_rate_limit(reset_in=600)
    client = client_for(fake_github, rate_limit_max_wait=5)
    with pytest.raises(RateLimitedError) as err:
        GitHubSource(client, "acme/catalog", None).head()
    assert err.value.reset_at > datetime.now(UTC) + timedelta(seconds=500)
    assert client.rate_limit_remaining == 0
    assert client.rate_limit_reset is not None
    assert abs((client.rate_limit_reset - err.value.reset_at).total_seconds()) < 2


def test_secondary_rate_limit_honours_retry_after(fake_github, make_repo, github_client):
    from worker.github.source import GitHubSource

    repo = make_repo("acme/catalog", catalog(5))
    fake_github.secondary_rate_limit(1, retry_after=1, status=429)
    started = time.monotonic()
    assert GitHubSource(github_client, "acme/catalog", None).head().sha == repo.head
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in fake_github.requests_matching("/commits/")] == [429, 200]


def test_bad_token_is_an_auth_error_naming_the_repo_without_the_token(
    fake_github, make_repo, caplog
):
    from worker.github.source import GitHubSource

    make_repo("acme/catalog", catalog(5))
    secret = "ghp_THIS_IS_A_SECRET_TOKEN_123"
    client = client_for(fake_github, token=secret)
    caplog.set_level(logging.DEBUG)
    fake_github.fail_next(1, 502)
    with pytest.raises(AuthError) as err:
        GitHubSource(client, "acme/catalog", None).head()
    assert "acme/catalog" in str(err.value) and "bad credentials" in str(err.value)
    assert fake_github.count(status=401) == 1  # not retried
    text = "".join(traceback.format_exception(err.value)) + caplog.text + repr(client)
    assert secret not in text


def test_missing_branch_repo_or_access_are_not_found(fake_github, make_repo, github_client):
    from worker.github.source import GitHubSource

    make_repo("acme/catalog", catalog(5))
    make_repo("acme/private", catalog(5), private_to={"someone-else"})
    with pytest.raises(NotFoundError, match=r"acme/catalog: no such branch.*nope"):
        GitHubSource(github_client, "acme/catalog", "nope").head()
    for name in ("acme/missing", "acme/private"):
        with pytest.raises(NotFoundError, match=f"{name}: no such repository or no access"):
            GitHubSource(github_client, name, "main").head()


def _nested() -> dict[str, str | bytes]:
    """3 roots x 10 groups x 5 files: 180 tree entries, 60 per root, 5 per group."""
    return {
        f"{root}/g{g}/item{k}.md": f"---\nname: {root} {g} {k}\n---\n"
        for root in ("skills", "mcps", "tools")
        for g in range(10)
        for k in range(5)
    }


def test_truncated_tree_is_completed_by_walking_subtrees(
    fake_github, make_repo, github_client, monkeypatch
):
    from worker.github import truncation
    from worker.github.source import GitHubSource

    monkeypatch.setattr(truncation, "WALK_ESTIMATE_MAX", 100)  # the walk, even when dearer

    repo = make_repo("acme/catalog", _nested())
    source = GitHubSource(github_client, "acme/catalog", None)
    full = source.listing(Head(repo.head))
    fake_github.max_tree_entries = 40  # root (183) and each root (60) truncated; groups fit
    fake_github.reset_log()
    walked = GitHubSource(github_client, "acme/catalog", None).listing(Head(repo.head))
    assert walked.complete and sorted(walked.entries, key=lambda e: e.path) == sorted(
        full.entries, key=lambda e: e.path
    )
    assert len(walked.entries) == 150
    # truncated root, root level, 3 x (truncated root dir, its level, 10 groups)
    assert fake_github.request_count == 2 + 3 * (2 + 10)


def _key(entry):
    return (entry.path, entry.sha, entry.mode)


def test_a_level_github_cannot_list_is_listed_from_the_tarball(
    fake_github, make_repo, github_client
):
    from worker.github.source import GitHubSource

    repo = make_repo("acme/catalog", {f"skills/s{i}.md": "x" * i for i in range(60)})
    full = GitHubSource(github_client, "acme/catalog", None).listing(Head(repo.head))
    fake_github.max_tree_entries = 50  # even the skills/ level alone is too big
    fake_github.reset_log()
    listing = GitHubSource(github_client, "acme/catalog", None).listing(Head(repo.head))
    assert listing.complete and listing.commit_sha == repo.head
    assert sorted(listing.entries, key=_key) == sorted(full.entries, key=_key)
    # truncated tree, then at once the tarball (302 + download): skills/ holds the listing
    assert fake_github.request_count == 3


def test_a_tree_too_big_to_walk_cheaply_goes_to_the_tarball_at_once(
    fake_github, make_repo, github_client
):
    """The shape of the truncated listing says the walk would cost more than a tarball."""
    from worker.github.source import GitHubSource

    repo = make_repo("acme/catalog", _nested())
    full = GitHubSource(github_client, "acme/catalog", None).listing(Head(repo.head))
    fake_github.max_tree_entries = 40  # the walk would cost 38 tree requests
    fake_github.reset_log()
    listing = GitHubSource(github_client, "acme/catalog", None).listing(Head(repo.head))
    assert listing.complete
    assert sorted(listing.entries, key=_key) == sorted(full.entries, key=_key)
    assert fake_github.count(r"/git/trees/") == 1 and fake_github.request_count == 3


def test_a_walk_over_budget_lists_from_the_tarball(
    fake_github, make_repo, github_client, monkeypatch
):
    """A walk the estimate let through still stops at its budget and lists from the tarball."""
    from worker.github import source as github_source
    from worker.github import truncation
    from worker.github.source import GitHubSource

    repo = make_repo("acme/catalog", _nested())
    full = GitHubSource(github_client, "acme/catalog", None).listing(Head(repo.head))
    fake_github.max_tree_entries = 40
    monkeypatch.setattr(truncation, "WALK_ESTIMATE_MAX", 100)  # estimated cheap enough...
    monkeypatch.setattr(github_source, "MAX_WALK_REQUESTS", 5)  # ...but it is not
    fake_github.reset_log()
    listing = GitHubSource(github_client, "acme/catalog", None).listing(Head(repo.head))
    assert listing.complete
    assert sorted(listing.entries, key=_key) == sorted(full.entries, key=_key)
    assert fake_github.request_count <= 1 + 5 + 2


def _too_big_for_the_tree_api(fake_github, make_repo, monkeypatch):
    """A repository GitHub's tree API truncates and a walk cannot afford: tarball-listed."""
    from worker.github import source as github_source

    files = _nested()
    repo = make_repo("acme/catalog", files)
    fake_github.max_tree_entries = 40
    monkeypatch.setattr(github_source, "MAX_WALK_REQUESTS", 2)
    return files, repo


def test_the_listing_tarball_is_read_from_disk_not_downloaded_again(
    fake_github, make_repo, github_client, monkeypatch
):
    from worker.github.source import GitHubSource

    files, repo = _too_big_for_the_tree_api(fake_github, make_repo, monkeypatch)
    source = GitHubSource(github_client, "acme/catalog", None)
    listing = source.listing(Head(repo.head))
    assert listing.complete and len(listing.entries) == len(files)
    fake_github.reset_log()
    wanted = {e.path: e.sha for e in listing.entries}
    got = dict(source.read(Head(repo.head), wanted, bulk=True))
    assert {p: d.decode() for p, d in got.items()} == files
    assert fake_github.request_count == 0  # the spooled tarball, not a second download
    # Used once: a later read downloads (a new head may have been listed by then).
    again = dict(source.read(Head(repo.head), dict(list(wanted.items())[:60]), bulk=True))
    assert len(again) == 60
    assert [r.path.split("/")[-2] for r in fake_github.log][:1] == ["tarball"]


def test_a_tarball_cut_mid_stream_is_downloaded_again(fake_github, make_repo, github_client):
    """urllib3 raises a cut body raw (`ProtocolError`): the read must still retry it."""
    from worker.github.source import GitHubSource

    files = _nested()
    repo = make_repo("acme/catalog", files)
    source = GitHubSource(github_client, "acme/catalog", None)
    wanted = {e.path: e.sha for e in source.listing(Head(repo.head)).entries}
    fake_github.reset_log()
    fake_github.cut_bodies(1, after_bytes=1500, path="/_codeload/")
    got = dict(source.read(Head(repo.head), wanted, bulk=True))
    assert {p: d.decode() for p, d in got.items()} == files
    downloads = [r for r in fake_github.log if "/_codeload/" in r.path]
    assert len(downloads) == 2


def test_a_listing_tarball_cut_mid_stream_is_an_incomplete_listing(
    fake_github, make_repo, github_client, monkeypatch
):
    from worker.github.source import GitHubSource

    files, repo = _too_big_for_the_tree_api(fake_github, make_repo, monkeypatch)
    fake_github.cut_bodies(1, after_bytes=1500, path="/_codeload/")
    source = GitHubSource(github_client, "acme/catalog", None)
    listing = source.listing(Head(repo.head))
    assert not listing.complete  # never deletes; the next run lists again
    fake_github.reset_log()
    wanted = {"skills/g0/item0.md": blob_sha(files["skills/g0/item0.md"].encode())}
    assert dict(source.read(Head(repo.head), wanted)) == {
        "skills/g0/item0.md": files["skills/g0/item0.md"].encode()
    }
    assert fake_github.request_count == 1  # no half spool was kept: one blob request


def test_a_full_disk_does_not_cost_the_listing(fake_github, make_repo, github_client, monkeypatch):
    """The spool is a saving: if it cannot be written, the listing is still complete."""
    from worker.github import tarball as github_tarball
    from worker.github.source import GitHubSource

    class FullDisk:
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        def close(self) -> None:
            pass

    files, repo = _too_big_for_the_tree_api(fake_github, make_repo, monkeypatch)
    monkeypatch.setattr(github_tarball.tempfile, "TemporaryFile", lambda **_: FullDisk())
    source = GitHubSource(github_client, "acme/catalog", None)
    listing = source.listing(Head(repo.head))
    assert listing.complete and len(listing.entries) == len(files)
    fake_github.reset_log()
    wanted = {e.path: e.sha for e in listing.entries}
    assert len(dict(source.read(Head(repo.head), wanted, bulk=True))) == len(files)
    assert [r.path.split("/")[-2] for r in fake_github.log][:1] == ["tarball"]  # downloaded


def test_a_spool_of_another_commit_is_not_read(fake_github, make_repo, github_client, monkeypatch):
    from worker.github.source import GitHubSource

    _, repo = _too_big_for_the_tree_api(fake_github, make_repo, monkeypatch)
    source = GitHubSource(github_client, "acme/catalog", None)
    old = source.listing(Head(repo.head))
    repo.write("skills/g0/item0.md", "---\nname: changed\n---\n")
    repo.commit("change")
    repo.push()
    wanted = {"skills/g0/item0.md": blob_sha(b"---\nname: changed\n---\n")}
    assert old.commit_sha != repo.head
    assert dict(source.read(Head(repo.head), wanted, bulk=True)) == {
        "skills/g0/item0.md": b"---\nname: changed\n---\n"
    }


def test_modes_and_reads_skip_what_is_not_the_wanted_blob(fake_github, make_repo, github_client):
    from worker.github.source import GitHubSource

    repo = make_repo("acme/catalog", catalog(5))
    repo.write("tools/run.sh", "#!/bin/sh\n", executable=True)
    repo.symlink("skills/link.md", "item000/SKILL.md")
    repo.submodule("vendor/sub", "a" * 40)
    repo.commit("modes")
    repo.push()
    source = GitHubSource(github_client, "acme/catalog", None, tarball_threshold=2)
    modes = {e.path: e.mode for e in source.listing(Head(repo.head)).entries}
    assert (modes["tools/run.sh"], modes["skills/link.md"], modes["vendor/sub"]) == (
        MODE_EXEC,
        MODE_SYMLINK,
        MODE_SUBMODULE,
    )
    real = blob_sha(b"#!/bin/sh\n")
    wanted = {
        "tools/run.sh": real,
        "README.md": "0" * 40,
        "skills/link.md": blob_sha(b"item000/SKILL.md"),
    }
    # tarball path (3 > threshold 2): the symlink is not a regular file, README's SHA is wrong
    assert dict(source.read(Head(repo.head), wanted)) == {"tools/run.sh": b"#!/bin/sh\n"}
    # blob path: a blob GitHub lacks is not yielded
    one = {"tools/run.sh": real, "README.md": "1" * 40}
    assert dict(source.read(Head(repo.head), one)) == {"tools/run.sh": b"#!/bin/sh\n"}


def test_github_app_auth_end_to_end_with_token_refresh(fake_github, make_repo, caplog):
    from worker.github.source import GitHubSource

    repo = make_repo("acme/catalog", catalog(5), private_to={"app-installation-77"})
    private, public = rsa_key_pair()
    # PyGithub refreshes 20 s before expiry: a 21 s token is "expiring" after about a second.
    app = fake_github.register_app(12345, public, installation_id=77, token_ttl=21)
    client = client_for(
        fake_github, token=None, app_id="12345", private_key=private, installation_id=77
    )
    caplog.set_level(logging.DEBUG)
    source = GitHubSource(client, "acme/catalog", None)
    assert source.head().sha == repo.head
    assert app.tokens_issued == 1 and source.requests == 2  # token + head
    assert source.head().sha == repo.head
    assert app.tokens_issued == 1 and source.requests == 3  # token reused
    time.sleep(1.2)
    assert source.head().sha == repo.head
    assert app.tokens_issued == 2 and source.requests == 5  # refreshed before expiry
    auths = [r.headers["Authorization"] for r in fake_github.requests_matching("/commits/")]
    assert auths[0] == auths[1] != auths[2]
    assert "BEGIN PRIVATE KEY" not in caplog.text
    for token in {a.split()[1] for a in auths}:
        assert token not in caplog.text

    wrong_key, _ = rsa_key_pair()
    bad = client_for(
        fake_github, token=None, app_id="12345", private_key=wrong_key, installation_id=77
    )
    with pytest.raises(AuthError, match="GitHub App authentication failed") as err:
        GitHubSource(bad, "acme/catalog", None).head()
    assert "PRIVATE KEY" not in "".join(traceback.format_exception(err.value))


def test_redeliver_failed_resends_only_unacknowledged_events(fake_github, make_repo, github_client):
    with RecordingReceiver() as receiver:
        repo = make_repo("acme/catalog")
        hook = repo.add_hook(receiver.url, "s3cret")
        since = datetime.now(UTC) - timedelta(minutes=1)
        repo.write("a.md", "1")
        repo.commit()
        repo.push()  # delivered
        fake_github.fail_deliveries(2)
        for text in ("2", "3"):
            repo.write("a.md", text)
            repo.commit()
            repo.push()
        fake_github.wait_for_deliveries(3)
        failed = [d for d in fake_github.deliveries_for(hook.hook_id) if d.status_code == 502]
        old = failed[0]
        old.delivered_at = time.time() - 4 * 86400  # beyond GitHub's 3-day window
        ids = redeliver_failed(
            github_client, "acme/catalog", hook.hook_id, since - timedelta(days=9)
        )
        assert ids == [failed[1].id]
        fake_github.wait_for_deliveries(4)
        assert receiver.received[-1][0]["X-GitHub-Delivery"] == failed[1].guid
        # the redelivery succeeded: asking again finds nothing to do
        assert redeliver_failed(github_client, "acme/catalog", hook.hook_id, since) == []
