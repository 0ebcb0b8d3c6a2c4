"""Correctly signed but hostile deliveries never get a 5xx, and never leave half a delivery.

A property test (issue 13, class 1): hypothesis builds push payloads that are valid JSON yet
carry any unicode (lone surrogates and NUL included) in every string the receiver reads, wrong
types, missing keys, huge numbers, deep nesting and non-object bodies, signs them and posts them
to the real receiver on SQLite and PostgreSQL. The answer is never 5xx; a delivery is stored
exactly when the answer says `queued`, with the values that were sent; anything not stored is a
400 or an `ignored` 202; and the payload checks, not the last-resort handler, refuse it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from models import Repository, WebhookDelivery
from tests.integration.test_webhook import JSON, NEW_BRANCH, SECRET, _app, _settings
from webhook.signature import sign
from webhook.views import Deps, _store_and_queue
from worker.inbox.store import DeliveryIn

WATCHED = "Codertocat/Hello-World"  # watched without a branch: the payload's default branch
BASE: dict[str, Any] = json.loads(NEW_BRANCH.read_text())
ROUTING_REASONS = {
    "unwatched_repository",
    "tag",
    "branch_deleted",
    "not_a_branch",
    "unwatched_branch",
}

# --- payloads ------------------------------------------------------------------------------------

#: Every code point: lone surrogates and NUL included (hypothesis leaves surrogates out otherwise).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)
SHORT_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
#: Text a branch may hold (any printable unicode: private use, unassigned, format characters).
PRINTABLE = st.text(st.characters(codec=None, exclude_categories=("Cc", "Cs")), max_size=40)
#: One character no database stores as is, or git refuses in a ref.
BAD_CHAR = st.one_of(
    st.sampled_from(["\ud800", "\udbff", "\udc80", "\udfff"]),  # lone surrogates
    st.just("\x00"),
    st.sampled_from(["\x01", "\x1f", "\x7f", " ", "~", "^", ":", "?", "*", "[", "\\", ".."]),
)
#: A branch name: mostly one that could be real, so the push reaches the store.
INJECTED = st.builds(lambda a, bad, b: f"{a}{bad}{b}", PRINTABLE, BAD_CHAR, PRINTABLE)
BRANCH = st.one_of(
    st.just("master"),
    PRINTABLE.filter(bool),
    INJECTED,
    INJECTED,
    INJECTED,
    ANY_TEXT,
    st.text(st.sampled_from("ab-é/"), min_size=235, max_size=250),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    ANY_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SHORT_TEXT, inner, max_size=3),
    max_leaves=6,
)
KEEP = object()  # the field as it is
ABSENT = object()  # the key left out
#: A field's value: mostly kept (so that the others get their turn), else left out or anything.
FIELD = st.integers(0, 19).flatmap(
    lambda n: st.just(KEEP) if n < 17 else st.just(ABSENT) if n == 17 else JSON_VALUES
)


@st.composite
def push_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A push for the watched repository with hostile values in the fields the receiver reads."""
    data = json.loads(json.dumps(BASE))
    branch = draw(BRANCH)
    data["ref"] = draw(st.sampled_from(["refs/heads/"] * 6 + ["refs/tags/", ""])) + branch
    data["repository"]["default_branch"] = branch
    if draw(st.integers(0, 2)) > 0:  # only the branch is hostile: it gets as far as the store
        return data
    _set(data["repository"], "default_branch", draw(FIELD))
    for key in ("ref", "before", "after", "created", "deleted", "forced"):
        _set(data, key, draw(FIELD))
    _set(data, "repository", draw(FIELD))
    if isinstance(data.get("repository"), dict):
        hostile_name = st.builds(lambda bad: WATCHED + bad, BAD_CHAR)
        name = draw(st.one_of(st.just(WATCHED.upper()), hostile_name, FIELD))
        _set(data["repository"], "full_name", name)
    return data


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    if value is ABSENT:
        data.pop(key, None)
    elif value is not KEEP:
        data[key] = value


#: Bodies that are not a push object at all (each is signed like any other).
RAW_BODIES = st.one_of(
    st.builds(lambda v: json.dumps(v).encode(), JSON_VALUES),
    st.integers(min_value=5_000, max_value=20_000).map(lambda n: b'{"ref": 1' + b"0" * n + b"}"),
    st.integers(min_value=1_000, max_value=200_000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from([b"", b"NaN", b'{"ref": Infinity}', b"\xed\xa0\x80", b'{"a": "\\u0000"}']),
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """The signed bytes and their content type, as GitHub could send them (and then some)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(RAW_BODIES), JSON
    escaped = draw(st.sampled_from([True, True, False]))  # `\\ud800`, or raw in the bytes
    text = json.dumps(draw(push_payloads()), ensure_ascii=escaped)
    raw = text.encode("utf-8", errors="surrogatepass")  # a surrogate unescaped: not UTF-8
    if draw(st.booleans()):
        return raw, JSON
    return urlencode({"payload": text.encode("utf-8", errors="surrogatepass")}).encode(), (
        "application/x-www-form-urlencoded"
    )


def _issue_example(bad: str) -> bytes:
    data = json.loads(json.dumps(BASE))
    data["ref"] = f"refs/heads/{bad}"
    data["repository"]["default_branch"] = bad
    return json.dumps(data).encode()


# --- the receiver --------------------------------------------------------------------------------


@pytest.fixture
def client(db_url: str, engine: Engine, redis_url: str) -> Iterator[FlaskClient]:
    settings_ = _settings(db_url, redis_url, catalog_repos=WATCHED)
    with _app(settings_, engine).test_client() as c:
        yield c


def _stored(engine: Engine, delivery_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id)
        ).first()


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(sent=bodies())
@example(sent=(_issue_example("\ud800"), JSON))  # the issue's own example, always tried
@example(sent=(_issue_example("\x00"), JSON))
def test_signed_hostile_pushes_never_get_a_5xx_nor_store_half(
    client: FlaskClient, engine: Engine, sent: tuple[bytes, str]
) -> None:
    body, content_type = sent
    delivery = str(uuid.uuid4())
    before = _count(engine, WebhookDelivery)
    response = client.post(
        "/webhooks/github",
        data=body,
        content_type=content_type,
        headers={
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(SECRET, body),
        },
    )
    answer = response.get_json()
    event(f"{response.status_code} {answer.get('reason', answer.get('status'))}")
    assert response.status_code < 500, answer
    assert answer.get("reason") != "unstorable_value", "the payload checks let it through"
    row = _stored(engine, delivery)
    if row is not None:
        assert (response.status_code, answer["status"]) == (202, "queued"), answer
        assert row.repository_full_name == WATCHED
        assert row.ref is not None and row.ref.encode("utf-8")  # stored as sent: readable
        assert (row.ref, row.after_sha) == _sent_ref_and_after(body, content_type)
        assert _count(engine, WebhookDelivery) == before + 1
    else:
        assert _count(engine, WebhookDelivery) == before
        if response.status_code == 202:
            assert answer == {"status": "ignored", "reason": answer["reason"]}
            assert answer["reason"] in ROUTING_REASONS
        else:
            assert response.status_code == 400, answer
            assert answer["status"] == "rejected" and answer["reason"]


def _sent_ref_and_after(body: bytes, content_type: str) -> tuple[str, str]:
    text = body.decode()
    if content_type != JSON:
        text = parse_qs(text)["payload"][0]
    data = json.loads(text)
    return data["ref"], data["after"]


# --- the last resort -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    ["refs/heads/\ud800", "refs/heads/a\x00b", "refs/heads/" + "x" * 300],
    ids=["surrogate", "nul", "too-long"],
)
def test_a_value_the_database_refuses_is_a_400_and_nothing_is_kept(
    client: FlaskClient, engine: Engine, db_url: str, ref: str
) -> None:
    """Should a value ever get past the payload checks, the store's transaction is rolled back:
    no delivery row, no repository row, no message, and a 400 rather than a 500."""
    deps: Deps = client.application.extensions["catalog_sync"]
    delivery = DeliveryIn(
        delivery_id="last-resort",
        event="push",
        repository_full_name=WATCHED,
        ref=ref,
        before_sha="0" * 40,
        after_sha="1" * 40,
        branch=ref.removeprefix("refs/heads/"),
    )
    with client.application.app_context():
        answer = _store_and_queue(deps, delivery)
    if db_url.startswith("sqlite") and "\ud800" not in ref:
        # SQLite keeps NUL and long text as they are: stored whole, never half.
        assert (answer.code, answer.body["status"]) == (202, "queued")
        assert _count(engine, WebhookDelivery) == 1
        return
    assert (answer.code, answer.body) == (400, {"status": "rejected", "reason": "unstorable_value"})
    assert _count(engine, WebhookDelivery) == 0
    assert _count(engine, Repository) == 0
