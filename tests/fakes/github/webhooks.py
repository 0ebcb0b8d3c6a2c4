"""Webhooks: the hooks, their signed deliveries, and the thread that POSTs them to receivers.

Deliveries go out one at a time from a background thread, as GitHub's do (never retried by
GitHub itself); tests can drop the next deliveries (never sent nor listed: a missed webhook) or
fail them (listed as failed, not sent), and redeliver one (same GUID, `redelivery` true).
"""

from __future__ import annotations

import hmac
import json
import queue
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.fakes.github.api import HttpError
from tests.fakes.github.gitcmd import iso


@dataclass
class Hook:
    """A webhook: a repository's (`repo` set) or the App's (`repo` None, `installation_id` set)."""

    hook_id: int
    url: str
    secret: str | None
    content_type: str = "json"  # "json" | "form"
    repo: str | None = None
    active: bool = True
    installation_id: int | None = None


@dataclass
class Delivery:
    """One delivery attempt, as the deliveries API lists it."""

    id: int
    guid: str
    hook_id: int
    event: str
    body: bytes
    request_headers: dict[str, str]
    repository_id: int | None
    installation_id: int | None
    redelivery: bool = False
    delivered_at: float = field(default_factory=time.time)
    duration: float = 0.0
    status: str = "pending"
    status_code: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def item(self) -> dict[str, Any]:
        """This attempt as an item of `GET .../hooks/{id}/deliveries`."""
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": iso(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": round(self.duration, 3),
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": None,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }


def signed_request(
    hook: Hook, guid: str, event: str, payload: dict[str, Any], target_id: int
) -> tuple[bytes, dict[str, str]]:
    """The body and headers GitHub POSTs for `payload`: JSON or form, HMAC-signed if secret."""
    raw = json.dumps(payload).encode()
    if hook.content_type == "form":
        body = b"payload=" + urllib.parse.quote_plus(raw.decode()).encode()
        ctype = "application/x-www-form-urlencoded"
    else:
        body, ctype = raw, "application/json"
    headers = {
        "Accept": "*/*",
        "Content-Type": ctype,
        "User-Agent": "GitHub-Hookshot/fake",
        "X-GitHub-Delivery": guid,
        "X-GitHub-Event": event,
        "X-GitHub-Hook-ID": str(hook.hook_id),
        "X-GitHub-Hook-Installation-Target-ID": str(target_id),
        "X-GitHub-Hook-Installation-Target-Type": "integration"
        if hook.installation_id
        else "repository",
    }
    if hook.secret:
        key = hook.secret.encode()
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(key, body, "sha1").hexdigest()
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(key, body, "sha256").hexdigest()
    return body, headers


class Webhooks:
    """The fake's hooks and deliveries (a part of `FakeGitHub`)."""

    def __init__(self, ids: Iterator[int]) -> None:
        self.hooks: dict[int, Hook] = {}
        self.app_hook: Hook | None = None
        self.deliveries: list[Delivery] = []
        self.drop_next_deliveries = 0
        self.fail_next_deliveries: list[int] = []
        self.delivery_timeout = 10.0
        self._hook_ids = ids
        self._hooks_lock = threading.RLock()
        self._outbox: queue.Queue[Delivery | None] = queue.Queue()
        self._sender: threading.Thread | None = None

    def new_hook(
        self,
        url: str,
        secret: str | None,
        content_type: str,
        repo: str | None,
        installation_id: int | None = None,
    ) -> Hook:
        with self._hooks_lock:
            hook_id = next(self._hook_ids)
            hook = Hook(hook_id, url, secret, content_type, repo, installation_id=installation_id)
            self.hooks[hook.hook_id] = hook
            if repo is None:
                self.app_hook = hook
            return hook

    def drop_deliveries(self, n: int = 1) -> None:
        """The next `n` webhook deliveries are never sent nor listed (a missed webhook)."""
        with self._hooks_lock:
            self.drop_next_deliveries += n

    def fail_deliveries(self, n: int = 1, status_code: int = 502) -> None:
        """The next `n` deliveries are not sent but listed as failed with `status_code`."""
        with self._hooks_lock:
            self.fail_next_deliveries.extend([status_code] * n)

    def deliveries_for(self, hook_id: int) -> list[Delivery]:
        with self._hooks_lock:
            return [d for d in self.deliveries if d.hook_id == hook_id]

    def wait_for_deliveries(self, n: int, timeout: float = 10.0) -> list[Delivery]:
        """Block until `n` deliveries have been attempted; returns them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._hooks_lock:
                done = [d for d in self.deliveries if d.done.is_set()]
            if len(done) >= n:
                return done
            time.sleep(0.01)
        raise TimeoutError(f"{len(done)} of {n} webhook deliveries made after {timeout}s")

    def redeliver(self, delivery_id: int) -> Delivery:
        """What `POST .../deliveries/{id}/attempts` does: resend the same event, same GUID."""
        with self._hooks_lock:
            original = next((d for d in self.deliveries if d.id == delivery_id), None)
            if original is None:
                raise HttpError(404, "Not Found")
            copy = Delivery(
                id=next(self._hook_ids),
                guid=original.guid,
                hook_id=original.hook_id,
                event=original.event,
                body=original.body,
                request_headers=dict(original.request_headers),
                repository_id=original.repository_id,
                installation_id=original.installation_id,
                redelivery=True,
            )
            self.deliveries.append(copy)
        self._outbox.put(copy)
        return copy

    def deliver(self, full_name: str, repo_id: int, event: str, payload: dict[str, Any]) -> None:
        """One delivery per hook covering the repository (its own, and the App's), one GUID."""
        with self._hooks_lock:
            hooks = [h for h in self.hooks.values() if h.active and h.repo is not None]
            hooks = [h for h in hooks if (h.repo or "").lower() == full_name.lower()]
            if self.app_hook is not None:
                hooks.append(self.app_hook)
            if hooks and self.drop_next_deliveries > 0:
                self.drop_next_deliveries -= 1
                return
            fail = self.fail_next_deliveries.pop(0) if hooks and self.fail_next_deliveries else None
            guid = str(uuid.uuid4())
            for hook in hooks:
                delivery = self._delivery(hook, guid, event, payload, repo_id)
                self.deliveries.append(delivery)
                if fail is not None:
                    delivery.status_code = fail
                    delivery.status = f"Invalid HTTP Response: {fail}"
                    delivery.done.set()
                else:
                    self._outbox.put(delivery)

    def deliver_to_app(self, event: str, payload: dict[str, Any]) -> Delivery | None:
        """One delivery to the App's hook only (an event about the installation itself)."""
        with self._hooks_lock:
            hook = self.app_hook
            if hook is None or not hook.active:
                return None
            delivery = self._delivery(hook, str(uuid.uuid4()), event, payload, None)
            self.deliveries.append(delivery)
        self._outbox.put(delivery)
        return delivery

    def _delivery(
        self, hook: Hook, guid: str, event: str, payload: dict[str, Any], repo_id: int | None
    ) -> Delivery:
        installation_id = hook.installation_id
        if installation_id and "installation" not in payload:
            payload = {**payload, "installation": {"id": installation_id}}
        target = installation_id or repo_id or 0
        body, headers = signed_request(hook, guid, event, payload, target)
        return Delivery(
            id=next(self._hook_ids),
            guid=guid,
            hook_id=hook.hook_id,
            event=event,
            body=body,
            request_headers=headers,
            repository_id=repo_id,
            installation_id=installation_id,
        )

    # -- the sender thread
    def start_sending(self) -> None:
        self._sender = threading.Thread(
            target=self._send_loop, name="fake-github-hooks", daemon=True
        )
        self._sender.start()

    def stop_sending(self) -> None:
        self._outbox.put(None)
        if self._sender is not None:
            self._sender.join(timeout=5)
            self._sender = None

    def _send_loop(self) -> None:
        session = requests.Session()
        while True:
            delivery = self._outbox.get()
            if delivery is None:
                session.close()
                return
            self._send(session, delivery)

    def _send(self, session: requests.Session, delivery: Delivery) -> None:
        hook = self.hooks.get(delivery.hook_id)
        started = time.monotonic()
        delivery.delivered_at = time.time()
        try:
            assert hook is not None
            resp = session.post(
                hook.url,
                data=delivery.body,
                headers=delivery.request_headers,
                timeout=self.delivery_timeout,
            )
            delivery.status_code = resp.status_code
            delivery.status = "OK" if resp.ok else f"Invalid HTTP Response: {resp.status_code}"
            delivery.response_headers = dict(resp.headers)
            delivery.response_body = resp.text[:1000]
        except requests.Timeout:
            delivery.status_code, delivery.status = 0, "timed out"
        except Exception:
            delivery.status_code, delivery.status = 0, "failed to connect"
        delivery.duration = time.monotonic() - started
        delivery.done.set()
