"""`installation` and `installation_repositories` deliveries, shaped as GitHub sends them.

A part of `FakeGitHub`: changing which repositories the App covers also tells the App's hook,
as GitHub does when someone adds a repository to the installation or removes one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.github.fake import FakeGitHub
    from tests.fakes.github.webhooks import Delivery


def _repo_ref(fake: FakeGitHub, full_name: str) -> dict[str, Any]:
    """A repository as installation payloads list it: id, node id, name, full name, private."""
    item = next((i for i in fake.listed() if i["full_name"].lower() == full_name.lower()), None)
    if item is None:
        raise KeyError(f"no repository {full_name} on the fake")
    keys = ("id", "node_id", "name", "full_name", "private")
    return {k: item[k] for k in keys}


def _installation(fake: FakeGitHub) -> dict[str, Any]:
    assert fake.app is not None, "register_app() first"
    account = fake.login
    return {
        "id": fake.app.installation_id,
        "account": {"login": account, "id": 1, "type": "Organization"},
        "repository_selection": "all" if fake.installed is None else "selected",
        "access_tokens_url": f"{fake.url}/app/installations/{fake.app.installation_id}/access_tokens",
        "repositories_url": f"{fake.url}/installation/repositories",
        "app_id": int(fake.app.app_id),
        "target_type": "Organization",
        "permissions": {"contents": "read", "metadata": "read"},
        "events": ["push"],
        "suspended_at": None,
        "suspended_by": None,
    }


class InstallationEvents:
    """Send installation deliveries to the App's hook (a part of `FakeGitHub`)."""

    def install_repositories(self: FakeGitHub, names: list[str]) -> Delivery | None:
        """Add repositories to the installation and send `installation_repositories` `added`."""
        current = set(self.installed or ())
        self.select_installed(sorted(current | {n.lower() for n in names}))
        return self._send_change("added", names)

    def uninstall_repositories(self: FakeGitHub, names: list[str]) -> Delivery | None:
        """Take repositories out of the installation; `installation_repositories` `removed`."""
        refs = [_repo_ref(self, n) for n in names]  # before they leave the listing
        current = {
            i["full_name"].lower() for i in self.listed() if self.is_installed(i["full_name"])
        }
        self.select_installed(sorted(current - {n.lower() for n in names}))
        return self._send_change("removed", names, refs)

    def send_installation(self: FakeGitHub, action: str) -> Delivery | None:
        """An `installation` event (`created`, `deleted`, `suspend`, ...) for the App."""
        installed = [i["full_name"] for i in self.listed() if self.is_installed(i["full_name"])]
        payload = {
            "action": action,
            "installation": _installation(self),
            "repositories": [_repo_ref(self, n) for n in installed],
            "sender": {"login": self.login, "id": 2, "type": "User"},
        }
        return self.deliver_to_app("installation", payload)

    def _send_change(
        self: FakeGitHub, action: str, names: list[str], refs: list[dict[str, Any]] | None = None
    ) -> Delivery | None:
        refs = refs if refs is not None else [_repo_ref(self, n) for n in names]
        payload = {
            "action": action,
            "installation": _installation(self),
            "repository_selection": "selected",
            "repositories_added": refs if action == "added" else [],
            "repositories_removed": refs if action == "removed" else [],
            "requester": None,
            "sender": {"login": self.login, "id": 2, "type": "User"},
        }
        return self.deliver_to_app("installation_repositories", payload)
