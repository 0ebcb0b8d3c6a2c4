"""The fake GitHub behaves like GitHub where catalog-sync and its tests rely on it.

PyGithub itself parses the fake's answers (so the shapes are the ones a real client expects),
and raw `requests` checks the HTTP-level behaviour: ETags and 304s, the tarball redirect,
truncated trees, rate-limit headers, injected faults and signed webhook deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import tarfile
import time
import urllib.parse

import jwt
import pytest
import requests
from github import Auth, Github, GithubException

from tests.fakes.github import FakeGitHub, RecordingReceiver, blob_sha, rsa_key_pair

FILES = {
    "skills/pdf/SKILL.md": "---\nname: pdf\n---\nRead PDFs.\n",
    "skills/pdf/helper.py": "print('hi')\n",
    "mcps/github.json": '{"name": "github"}\n',
    "README.md": "# catalog\n",
}


def auth(fake: FakeGitHub, **extra: str) -> dict[str, str]:
    return {"Authorization": f"token {fake.token}", **extra}


def gh(fake: FakeGitHub, token: str | None = None) -> Github:
    return Github(
        auth=Auth.Token(token or fake.token),
        base_url=fake.api_url,
        retry=None,
        seconds_between_requests=None,
    )


def test_pygithub_reads_repo_commit_tree_blob_contents(fake_github, make_repo):
    repo = make_repo("acme/catalog", FILES)
    first = repo.head
    repo.write("skills/pdf/SKILL.md", "---\nname: pdf2\n---\n")
    repo.rename("mcps/github.json", "mcps/gh.json")
    second = repo.commit("edit")
    repo.push()

    r = gh(fake_github).get_repo("acme/catalog")
    assert (r.full_name, r.default_branch, r.private) == ("acme/catalog", "main", False)
    assert r.get_commit("main").sha == second
    tree = r.get_git_tree(second, recursive=True)
    blobs = {e.path: e for e in tree.tree if e.type == "blob"}
    assert set(blobs) == {
        "skills/pdf/SKILL.md",
        "skills/pdf/helper.py",
        "mcps/gh.json",
        "README.md",
    }
    assert blobs["README.md"].sha == blob_sha(FILES["README.md"].encode())
    assert blobs["README.md"].size == len(FILES["README.md"])
    assert {e.path for e in tree.tree if e.type == "tree"} == {"skills", "skills/pdf", "mcps"}
    blob = r.get_git_blob(blobs["README.md"].sha)
    assert blob.encoding == "base64" and blob.size == len(FILES["README.md"])
    content = r.get_contents("skills/pdf/helper.py", ref=first)
    assert content.decoded_content == FILES["skills/pdf/helper.py"].encode()
    assert {c.path for c in r.get_contents("skills/pdf")} == {
        "skills/pdf/SKILL.md",
        "skills/pdf/helper.py",
    }


def test_commit_sha_media_type_etag_and_304_are_free(fake_github, make_repo):
    repo = make_repo("acme/catalog", FILES)
    url = f"{fake_github.url}/repos/acme/catalog/commits/main"
    sha_type = "application/vnd.github.sha"
    first = requests.get(url, headers=auth(fake_github, Accept=sha_type))
    assert first.status_code == 200 and first.text == repo.head
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    remaining = int(first.headers["x-ratelimit-remaining"])
    again = requests.get(url, headers=auth(fake_github, Accept=sha_type, **{"If-None-Match": etag}))
    assert again.status_code == 304 and again.content == b""
    assert int(again.headers["x-ratelimit-remaining"]) == remaining  # not charged
    repo.write("README.md", "changed")
    repo.commit()
    repo.push()
    moved = requests.get(url, headers=auth(fake_github, Accept=sha_type, **{"If-None-Match": etag}))
    assert moved.status_code == 200 and moved.text == repo.head and moved.headers["ETag"] != etag
    assert int(moved.headers["x-ratelimit-remaining"]) == remaining - 1
    assert [r.status for r in fake_github.requests_matching("/commits/main")] == [200, 304, 200]
    for name in ("limit", "remaining", "reset", "used", "resource"):
        assert f"x-ratelimit-{name}" in moved.headers


def test_unknown_ref_is_422_and_missing_or_private_repo_is_404(fake_github, make_repo):
    make_repo("acme/catalog", FILES)
    make_repo("acme/secret", FILES, private_to={"alice"})
    fake_github.add_token("alice-token", "alice")
    base = fake_github.url
    nope = requests.get(f"{base}/repos/acme/catalog/commits/nope", headers=auth(fake_github))
    assert nope.status_code == 422 and "No commit found" in nope.json()["message"]
    assert requests.get(f"{base}/repos/acme/missing", headers=auth(fake_github)).status_code == 404
    assert requests.get(f"{base}/repos/acme/secret", headers=auth(fake_github)).status_code == 404
    ok = requests.get(f"{base}/repos/acme/secret", headers={"Authorization": "Bearer alice-token"})
    assert ok.status_code == 200 and ok.json()["private"] is True
    bad = requests.get(f"{base}/repos/acme/catalog", headers={"Authorization": "token nope"})
    assert bad.status_code == 401 and bad.json()["message"] == "Bad credentials"
    assert requests.get(f"{base}/repos/acme/catalog").status_code == 401
    with pytest.raises(GithubException) as err:
        gh(fake_github, "nope").get_repo("acme/catalog")
    assert err.value.status == 401


def test_blob_raw_media_type(fake_github, make_repo):
    make_repo("acme/catalog", FILES)
    sha = blob_sha(FILES["README.md"].encode())
    url = f"{fake_github.url}/repos/acme/catalog/git/blobs/{sha}"
    raw = requests.get(url, headers=auth(fake_github, Accept="application/vnd.github.raw"))
    assert raw.content == FILES["README.md"].encode()
    assert requests.get(url[:-1] + "0", headers=auth(fake_github)).status_code == 404


def test_tarball_redirects_to_a_codeload_stream_with_githubs_prefix(fake_github, make_repo):
    repo = make_repo("acme/catalog", FILES)
    url = f"{fake_github.url}/repos/acme/catalog/tarball/{repo.head}"
    hop = requests.get(url, headers=auth(fake_github), allow_redirects=False)
    assert hop.status_code == 302 and "/_codeload/" in hop.headers["Location"]
    body = requests.get(hop.headers["Location"]).content  # codeload needs no token header
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
    prefix = f"acme-catalog-{repo.head[:7]}/"
    assert files == {prefix + p: c.encode() for p, c in FILES.items()}


def test_recursive_tree_is_truncated_past_max_entries(fake_github, make_repo):
    repo = make_repo("acme/catalog", {f"skills/s{i}.md": f"{i}" for i in range(30)})
    fake_github.max_tree_entries = 20
    url = f"{fake_github.url}/repos/acme/catalog/git/trees/{repo.head}"
    tree = requests.get(url, params={"recursive": "1"}, headers=auth(fake_github)).json()
    assert tree["truncated"] is True and len(tree["tree"]) == 20
    top = requests.get(url, headers=auth(fake_github)).json()
    assert top["truncated"] is False and [e["path"] for e in top["tree"]] == ["skills"]


def test_injected_faults(fake_github, make_repo):
    make_repo("acme/catalog", FILES)
    url = f"{fake_github.url}/repos/acme/catalog"
    fake_github.fail_next(2, 502, path="/repos/acme/catalog$")
    assert [requests.get(url, headers=auth(fake_github)).status_code for _ in range(3)] == [
        502,
        502,
        200,
    ]

    fake_github.secondary_rate_limit(1, retry_after=7)
    limited = requests.get(url, headers=auth(fake_github))
    assert limited.status_code == 403 and limited.headers["Retry-After"] == "7"
    assert "secondary rate limit" in limited.json()["message"]

    fake_github.exhaust_rate_limit(reset_in=1)
    spent = requests.get(url, headers=auth(fake_github))
    assert spent.status_code == 403 and spent.headers["x-ratelimit-remaining"] == "0"
    assert "rate limit exceeded" in spent.json()["message"]
    time.sleep(max(0.0, int(spent.headers["x-ratelimit-reset"]) - time.time()) + 0.05)
    assert requests.get(url, headers=auth(fake_github)).status_code == 200

    fake_github.drop_connections(1)
    with pytest.raises(requests.ConnectionError):
        requests.get(url, headers=auth(fake_github))
    fake_github.delay_next(1, 0.5)
    with pytest.raises(requests.Timeout):
        requests.get(url, headers=auth(fake_github), timeout=0.2)

    fake_github.latency = 0.05
    started = time.monotonic()
    requests.get(url, headers=auth(fake_github))
    assert time.monotonic() - started >= 0.05
    assert fake_github.count("/repos/acme/catalog$", status=0) == 1  # the drop is logged


def _verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Hub-Signature-256"])


def test_push_sends_a_signed_delivery_listed_by_the_deliveries_api(fake_github, make_repo):
    with RecordingReceiver() as receiver:
        repo = make_repo("acme/catalog")
        hook = repo.add_hook(receiver.url, "s3cret")
        repo.write_many(FILES)
        sha = repo.commit("first")
        repo.push()
        [delivery] = fake_github.wait_for_deliveries(1)
        [(headers, body)] = receiver.received
    assert _verify("s3cret", headers, body)
    assert headers["X-GitHub-Event"] == "push"
    assert headers["X-GitHub-Delivery"] == delivery.guid
    assert headers["X-GitHub-Hook-ID"] == str(hook.hook_id)
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    payload = json.loads(body)
    assert payload["ref"] == "refs/heads/main" and payload["after"] == sha
    assert payload["before"] == "0" * 40 and payload["created"] is True
    assert payload["repository"]["full_name"] == "acme/catalog"
    assert payload["repository"]["default_branch"] == "main"
    assert payload["head_commit"]["id"] == sha
    assert sorted(payload["head_commit"]["added"]) == sorted(FILES)

    listed = requests.get(
        f"{fake_github.url}/repos/acme/catalog/hooks/{hook.hook_id}/deliveries",
        headers=auth(fake_github),
    ).json()
    assert [(d["guid"], d["status_code"], d["event"]) for d in listed] == [
        (delivery.guid, 202, "push")
    ]


def test_form_hooks_force_push_drop_fail_and_redeliver(fake_github, make_repo):
    with RecordingReceiver() as receiver:
        repo = make_repo("acme/catalog", FILES)
        hook = repo.add_hook(receiver.url, "s3cret", content_type="form")
        old = repo.head
        repo.write("README.md", "new")
        repo.commit()
        repo.push()
        repo.force_push_to(old)
        fake_github.wait_for_deliveries(2)
        (h1, b1), (_h2, b2) = receiver.received
        assert h1["Content-Type"] == "application/x-www-form-urlencoded" and _verify(
            "s3cret", h1, b1
        )
        forced = json.loads(urllib.parse.parse_qs(b2.decode())["payload"][0])
        assert forced["forced"] is True and forced["after"] == old

        fake_github.drop_deliveries(1)
        repo.write("README.md", "dropped")
        repo.commit()
        repo.push()
        fake_github.fail_deliveries(1, status_code=502)
        repo.write("README.md", "failed")
        repo.commit()
        repo.push()
        time.sleep(0.2)
        assert len(receiver.received) == 2  # neither the dropped nor the failed one arrived
        failed = fake_github.deliveries_for(hook.hook_id)[-1]
        assert failed.status_code == 502 and len(fake_github.deliveries_for(hook.hook_id)) == 3

        base = f"{fake_github.url}/repos/acme/catalog/hooks/{hook.hook_id}/deliveries"
        assert (
            requests.post(f"{base}/{failed.id}/attempts", headers=auth(fake_github)).status_code
            == 202
        )
        fake_github.wait_for_deliveries(4)
        assert receiver.received[-1][0]["X-GitHub-Delivery"] == failed.guid
    page = requests.get(base, params={"per_page": 2}, headers=auth(fake_github))
    assert [d["redelivery"] for d in page.json()] == [True, False]
    assert 'rel="next"' in page.headers["Link"]
    rest = requests.get(page.links["next"]["url"], headers=auth(fake_github)).json()
    assert len(rest) == 2


def test_app_jwt_is_verified_and_installation_tokens_expire(fake_github, make_repo):
    make_repo("acme/catalog", FILES)
    private, public = rsa_key_pair()
    fake_github.register_app(42, public, installation_id=7, token_ttl=1)
    url = f"{fake_github.url}/app/installations/7/access_tokens"
    now = int(time.time())
    good = jwt.encode({"iat": now - 60, "exp": now + 500, "iss": "42"}, private, algorithm="RS256")
    resp = requests.post(url, headers={"Authorization": f"Bearer {good}"})
    assert resp.status_code == 201
    token = resp.json()["token"]
    repo_url = f"{fake_github.url}/repos/acme/catalog"
    assert requests.get(repo_url, headers={"Authorization": f"token {token}"}).status_code == 200
    time.sleep(1.1)
    assert requests.get(repo_url, headers={"Authorization": f"token {token}"}).status_code == 401

    other, _ = rsa_key_pair()
    forged = jwt.encode({"iat": now - 60, "exp": now + 500, "iss": "42"}, other, algorithm="RS256")
    assert requests.post(url, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = jwt.encode(
        {"iat": now - 900, "exp": now - 300, "iss": "42"}, private, algorithm="RS256"
    )
    assert requests.post(url, headers={"Authorization": f"Bearer {expired}"}).status_code == 401


def test_app_hook_deliveries_answer_the_app_jwt_only_and_redeliver(fake_github, make_repo):
    private, public = rsa_key_pair()
    fake_github.register_app(42, public, installation_id=7)
    now = int(time.time())
    app_jwt = jwt.encode(
        {"iat": now - 60, "exp": now + 500, "iss": "42"}, private, algorithm="RS256"
    )
    bearer = {"Authorization": f"Bearer {app_jwt}"}
    with RecordingReceiver() as receiver:
        fake_github.add_hook(None, receiver.url, "s3cret")
        make_repo("acme/catalog", FILES)
        [delivery] = fake_github.wait_for_deliveries(1)
        [(headers, body)] = receiver.received
        assert json.loads(body)["installation"] == {"id": 7}
        assert headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
        base = f"{fake_github.url}/app/hook/deliveries"
        assert requests.get(base, headers=auth(fake_github)).status_code == 401
        listed = requests.get(base, headers=bearer).json()
        assert [(d["guid"], d["installation_id"]) for d in listed] == [(delivery.guid, 7)]
        assert requests.post(f"{base}/{delivery.id}/attempts", headers=bearer).status_code == 202
        fake_github.wait_for_deliveries(2)
        assert receiver.received[-1][0]["X-GitHub-Delivery"] == delivery.guid
