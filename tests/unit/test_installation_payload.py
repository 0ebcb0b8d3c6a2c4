"""`installation` and `installation_repositories` bodies: what the receiver reads of them."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DATA
from webhook.installation import InstallationEvent, installation_event
from webhook.payload import PayloadError

RECORDED = DATA / "github-payloads" / "octokit-webhooks"


def load(name: str) -> InstallationEvent:
    return installation_event(json.loads((RECORDED / name).read_text()))


def test_recorded_payloads() -> None:
    assert load("installation_repositories/added.payload.json") == InstallationEvent(
        "added", 957387, added=("Codertocat/Space",)
    )
    assert load("installation_repositories/removed.payload.json") == InstallationEvent(
        "removed", 2, removed=("octocat/Hello-World",)
    )
    assert load("installation/created.payload.json").added == ("Codertocat/Hello-World",)
    assert load("installation/deleted.payload.json").removed == ("octocat/Hello-World",)
    assert load("installation/suspend.payload.json") == InstallationEvent("suspend", 16598467)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"action": "added"}, "invalid_installation"),
        ({"action": "added", "installation": {"id": True}}, "invalid_installation"),
        ({"action": "added", "installation": {"id": -1}}, "invalid_installation"),
        ({"action": "", "installation": {"id": 1}}, "invalid_action"),
        ({"installation": {"id": 1}}, "invalid_action"),
    ],
)
def test_malformed(data: dict[str, object], reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        installation_event(data)
    assert info.value.reason == reason


def test_odd_repository_lists_are_skipped_not_fatal() -> None:
    event = installation_event(
        {
            "action": "added",
            "installation": {"id": 5},
            "repositories_added": [{"full_name": "a/b"}, {"name": "no full name"}, "x"],
            "repositories_removed": "not a list",
        }
    )
    assert (event.added, event.removed) == (("a/b",), ())
