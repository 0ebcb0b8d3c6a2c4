"""The fake's check runs, statuses, compare and pull requests answer as GitHub's REST API does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.github import FakeGitHub, FakeRepo, RecordingReceiver, rsa_key_pair
from worker.github.client import GitHubClient, RetryPolicy

FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)
SKILL = "---\nname: {}\n---\n"


@pytest.fixture
def app_client(fake_github: FakeGitHub) -> Iterator[GitHubClient]:
    private, public = rsa_key_pair()
    fake_github.register_app(42, public, installation_id=7)
    client = GitHubClient(
        fake_github.api_url, app_id=42, private_key=private, installation_id=7, retry=FAST
    )
    yield client
    client.close()


def _annotation(i: int) -> dict[str, Any]:
    return {
        "path": f"skills/f{i}.md",
        "start_line": 2,
        "end_line": 2,
        "start_column": 3,
        "end_column": 3,
        "annotation_level": "failure",
        "message": f"problem {i}",
    }


def _raw(fake: FakeGitHub, method: str, path: str, token: str, body: Any) -> requests.Response:
    return requests.request(
        method, fake.api_url + path, json=body, headers={"Authorization": f"token {token}"}
    )


def test_check_runs_are_for_apps_and_keep_every_annotation(
    fake_github: FakeGitHub, make_repo: Any, app_client: GitHubClient
) -> None:
    repo: FakeRepo = make_repo("acme/catalog", {"skills/a.md": SKILL.format("a")})
    body = {
        "name": "catalog-sync",
        "head_sha": repo.head,
        "status": "in_progress",
        "output": {
            "title": "t",
            "summary": "s",
            "annotations": [_annotation(i) for i in range(50)],
        },
    }
    as_user = _raw(fake_github, "POST", "/repos/acme/catalog/check-runs", fake_github.token, body)
    assert (as_user.status_code, as_user.json()["message"]) == (
        403,
        "You must authenticate via a GitHub App.",
    )
    created = app_client.request("POST", "/repos/acme/catalog/check-runs", what="t", json=body)
    assert created.status_code == 201
    run_id = created.json()["id"]
    assert created.json()["output"]["annotations_count"] == 50
    done = {
        "status": "completed",
        "conclusion": "failure",
        "output": {"title": "t", "summary": "s", "annotations": [_annotation(50)]},
    }
    patched = app_client.request(
        "PATCH", f"/repos/acme/catalog/check-runs/{run_id}", what="t", json=done
    ).json()
    assert (patched["status"], patched["conclusion"]) == ("completed", "failure")
    assert patched["output"]["annotations_count"] == 51
    (run,) = fake_github.check_runs_for("acme/catalog", repo.head)
    assert [a["path"] for a in run.annotations] == [f"skills/f{i}.md" for i in range(51)]
    assert [method for method, _ in run.requests] == ["POST", "PATCH"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"annotations": [_annotation(i) for i in range(51)]}, "Only 50 annotations"),
        ({"annotations": [{**_annotation(0), "end_line": 3}]}, "single line"),
        ({"annotations": [{"path": "x", "start_line": 1}]}, "wasn't supplied"),
        ({"title": None}, '"title" and "summary" are required'),
    ],
)
def test_check_runs_refuse_what_github_refuses(
    make_repo: Any, app_client: GitHubClient, change: dict[str, Any], message: str
) -> None:
    repo = make_repo("acme/catalog", {"skills/a.md": SKILL.format("a")})
    output = {"title": "t", "summary": "s", **change}
    body = {"name": "c", "head_sha": repo.head, "status": "completed", "conclusion": "success"}
    resp = app_client.request(
        "POST",
        "/repos/acme/catalog/check-runs",
        what="t",
        json={**body, "output": output},
        expect=(422,),
    )
    assert resp.status_code == 422 and message in resp.json()["message"]


def test_commit_statuses_check_state_description_and_commit(
    fake_github: FakeGitHub, make_repo: Any, github_client: GitHubClient
) -> None:
    repo = make_repo("acme/catalog", {"skills/a.md": SKILL.format("a")})
    path = f"/repos/acme/catalog/statuses/{repo.head}"
    ok = github_client.request(
        "POST", path, what="t", json={"state": "failure", "description": "d", "context": "c"}
    )
    assert ok.status_code == 201 and ok.json()["context"] == "c"
    for body in ({"state": "bogus"}, {"state": "success", "description": "x" * 141}):
        resp = github_client.request("POST", path, what="t", json=body, expect=(422,))
        assert resp.status_code == 422
    missing = f"/repos/acme/catalog/statuses/{'0' * 40}"
    assert (
        github_client.request(
            "POST", missing, what="t", json={"state": "success"}, expect=(422,)
        ).status_code
        == 422
    )
    (status,) = fake_github.statuses_for("acme/catalog", repo.head)
    assert (status.state, status.description, status.context) == ("failure", "d", "c")


def test_pull_requests_from_forks_compare_in_the_base_repository(
    fake_github: FakeGitHub, make_repo: Any, github_client: GitHubClient
) -> None:
    base = make_repo("acme/catalog", {"skills/a.md": SKILL.format("a")})
    with RecordingReceiver() as receiver:
        base.add_hook(receiver.url, "s3cret")
        fork = fake_github.fork(base, "someone")
        fork.checkout("idea", create=True)
        fork.write("skills/b.md", SKILL.format("b"))
        fork.rename("skills/a.md", "skills/renamed.md")
        fork.commit("b")
        fork.push("idea")
        pr = fake_github.open_pull_request(base, "idea", head=fork)
        fork.write("skills/c.md", SKILL.format("c"))
        fork.commit("c")
        fork.push("idea")
        fake_github.wait_for_deliveries(2)
    events = [(h["X-GitHub-Event"], json.loads(b)) for h, b in receiver.received]
    assert [(e, p["action"]) for e, p in events] == [
        ("pull_request", "opened"),
        ("pull_request", "synchronize"),
    ]
    synchronize = events[1][1]
    assert synchronize["after"] == pr.head_sha == fork.ref("idea")
    assert synchronize["pull_request"]["head"]["repo"]["full_name"] == "someone/catalog"
    assert synchronize["pull_request"]["base"]["ref"] == "main"

    pull = github_client.get_json(f"/repos/acme/catalog/pulls/{pr.number}", what="t")
    assert (pull["number"], pull["state"], pull["head"]["sha"]) == (pr.number, "open", pr.head_sha)
    compared = github_client.get_json(
        f"/repos/acme/catalog/compare/main...{pr.head_sha}", what="t", params={"per_page": 1}
    )
    assert (compared["status"], compared["ahead_by"], len(compared["commits"])) == ("ahead", 2, 1)
    files = {f["filename"]: f for f in compared["files"]}
    assert {n: f["status"] for n, f in files.items()} == {
        "skills/b.md": "added",
        "skills/c.md": "added",
        "skills/renamed.md": "renamed",
    }
    assert files["skills/renamed.md"]["previous_filename"] == "skills/a.md"
    by_label = github_client.get_json("/repos/acme/catalog/compare/main...someone:idea", what="t")
    assert by_label["files"] == compared["files"]
