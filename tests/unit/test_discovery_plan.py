"""Discovery decisions without I/O: the desired set, and every lifecycle transition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from settings import RepoSpec
from worker.discovery.desired import desired_set
from worker.discovery.plan import (
    GONE_REASON,
    Change,
    column_values,
    due_for_retirement,
    plan_changes,
)
from worker.discovery.sources import INSTALLATION, ListedRepo, RepoListing, RowView, Sources

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACME = "owner:acme"


def sources(*entries: str, app: bool = False, topic: str | None = None) -> Sources:
    specs = [RepoSpec.parse(e) for e in entries]
    settings = SimpleNamespace(catalog_repos=specs, catalog_topic=topic, uses_github_app=app)
    return Sources.from_settings(settings)


def listing(key: str, *names: str, topics: tuple[str, ...] = (), **kw: bool) -> RepoListing:
    repos = tuple(ListedRepo(n, "main", topics, archived=n.endswith("-old")) for n in names)
    return RepoListing(key, repos, ok=kw.get("ok", True))


def row(name: str, state: str = "watched", **kw: object) -> RowView:
    values: dict[str, object] = {"source": "discovered", "via": ACME, "synced": True, **kw}
    return RowView(full_name=name, state=state, **values)  # type: ignore[arg-type]


def test_sources_from_settings() -> None:
    s = sources("acme/one@dev", "acme/*", "Bob/*", "acme/*")
    assert [str(x) for x in s.explicit] == ["acme/one@dev"]
    assert s.keys == (ACME, "owner:bob") and not s.installation
    assert sources(app=True).keys == (INSTALLATION,)
    assert sources("acme/one", app=True).keys == ()  # CATALOG_REPOS set: no App discovery
    assert sources().empty and not sources(app=True).empty


def test_explicit_wins_over_a_wildcard_and_keeps_its_branch() -> None:
    d = desired_set(
        sources("acme/*", "acme/one@dev"), {ACME: listing(ACME, "acme/one", "acme/two")}
    )
    assert d.repos["acme/one"].source == "explicit" and d.repos["acme/one"].branch == "dev"
    assert d.repos["acme/one"].via is None
    assert d.repos["acme/two"].source == "discovered" and d.repos["acme/two"].via == ACME
    assert d.trusted == {ACME}


def test_topic_filter_keeps_only_tagged_repositories_but_never_explicit_ones() -> None:
    s = sources("acme/*", "acme/plain", topic="agent-catalog")
    d = desired_set(
        s,
        {
            ACME: RepoListing(
                ACME,
                (
                    ListedRepo("acme/tagged", topics=("agent-catalog",)),
                    ListedRepo("acme/other", topics=("x",)),
                    ListedRepo("acme/plain"),
                ),
            )
        },
    )
    assert set(d.repos) == {"acme/tagged", "acme/plain"}
    assert d.filtered == {"acme/other": "lacks the topic agent-catalog"}
    assert d.repos["acme/tagged"].reason == "listed for acme/* with topic agent-catalog"


def test_failed_and_empty_listings_are_not_trusted() -> None:
    s = sources("acme/*", "bob/*")
    d = desired_set(s, {ACME: listing(ACME, ok=False), "owner:bob": listing("owner:bob")})
    assert d.trusted == frozenset() and d.repos == {}


def test_new_repository_is_watched_and_synced_at_once() -> None:
    d = desired_set(sources(app=True), {INSTALLATION: listing(INSTALLATION, "acme/new")})
    assert plan_changes(d, []) == [
        Change(
            "acme/new",
            "watched",
            "listed by the App installation",
            "discovered",
            INSTALLATION,
            False,
            create=True,
            sync=True,
        )
    ]


def test_gone_from_a_trusted_listing_is_unwatched_at_once() -> None:
    d = desired_set(sources(app=True), {INSTALLATION: listing(INSTALLATION, "acme/stays")})
    rows = [row("acme/stays", via=INSTALLATION, reason="listed by the App installation")]
    rows.append(row("acme/gone", via=INSTALLATION))
    assert plan_changes(d, rows) == [
        Change("acme/gone", "unwatched", "removed from the App installation")
    ]


def test_a_failed_or_empty_listing_never_unwatches() -> None:
    rows = [row("acme/a"), row("acme/b", source="explicit", via=None)]
    for answer in (listing(ACME, ok=False), listing(ACME), None):
        d = desired_set(sources("acme/*"), {ACME: answer} if answer else {})
        assert plan_changes(d, rows) == []


def test_nothing_configured_unwatches_nothing() -> None:
    assert plan_changes(desired_set(sources(), {}), [row("acme/a", source="explicit")]) == []


def test_reasons_for_leaving() -> None:
    s = sources("acme/*", "other/kept", topic="cat")
    d = desired_set(s, {ACME: listing(ACME, "acme/a", "acme/untagged", topics=("cat",))})
    d.filtered["acme/untagged"] = "lacks the topic cat"
    del d.repos["acme/untagged"]
    rows = [
        row("acme/untagged"),
        row("acme/deleted"),
        row("other/dropped", source="explicit", via=None),
        row("bob/x", via="owner:bob"),
        row("carol/x", via=INSTALLATION),
    ]
    reasons = {c.full_name: c.reason for c in plan_changes(d, rows) if c.state == "unwatched"}
    assert reasons == {
        "acme/untagged": "lacks the topic cat",
        "acme/deleted": "no longer listed for acme/* (deleted, renamed or out of reach)",
        "other/dropped": "removed from CATALOG_REPOS",
        "bob/x": "bob/* removed from CATALOG_REPOS",
        "carol/x": "App discovery is off (CATALOG_REPOS is set)",
    }


def test_coming_back_is_watched_and_synced() -> None:
    d = desired_set(sources("acme/*"), {ACME: listing(ACME, "acme/a", "acme/b")})
    rows = [row("acme/a", "unwatched", reason="x"), row("acme/b", "retired", reason="y")]
    changes = plan_changes(d, rows)
    assert [(c.full_name, c.state, c.sync, c.create) for c in changes] == [
        ("acme/a", "watched", True, False),
        ("acme/b", "watched", True, False),
    ]
    values = column_values(changes[1], rows[1], NOW)
    assert values["unwatched_at"] is None and values["retired_at"] is None


def test_gone_explicit_repository_waits_for_a_successful_reconcile() -> None:
    d = desired_set(sources("acme/x"), {})
    gone = row("acme/x", "unwatched", source="explicit", via=None, reason=GONE_REASON)
    assert plan_changes(d, [gone]) == []


def test_archived_flag_follows_the_listing_without_a_sync() -> None:
    d = desired_set(sources("acme/*"), {ACME: listing(ACME, "acme/x-old")})
    watched = row("acme/x-old", reason="listed for acme/*")
    assert plan_changes(d, [watched]) == [
        Change("acme/x-old", "watched", "listed for acme/*", "discovered", ACME, True)
    ]


def test_rows_created_by_hand_are_adopted_or_left_alone() -> None:
    d = desired_set(sources("acme/one"), {})
    rows = [row("acme/one", source=None, via=None), row("local/folder", source=None, via=None)]
    assert [(c.full_name, c.source) for c in plan_changes(d, rows)] == [("acme/one", "explicit")]


def test_retirement_after_the_grace_period_only() -> None:
    rows = [
        row("acme/old", "unwatched", unwatched_at=NOW - timedelta(seconds=61)),
        row("acme/new", "unwatched", unwatched_at=NOW - timedelta(seconds=59)),
        row("acme/w", unwatched_at=NOW - timedelta(days=9)),
        row("acme/r", "retired", unwatched_at=NOW - timedelta(days=9)),
    ]
    assert due_for_retirement(rows, NOW, 60) == ["acme/old"]
    assert due_for_retirement(rows, NOW, 0) == ["acme/new", "acme/old"]


def test_unwatching_stamps_the_time_once() -> None:
    change = Change("acme/x", "unwatched", "gone")
    assert column_values(change, row("acme/x"), NOW)["unwatched_at"] == NOW
    assert "unwatched_at" not in column_values(change, row("acme/x", "unwatched"), NOW)


# --- properties -----------------------------------------------------------------------------

names = st.sampled_from([f"{o}/{n}" for o in ("acme", "bob") for n in ("a", "b", "c", "d")])
states = st.sampled_from(["watched", "unwatched", "retired"])
row_views = st.builds(
    RowView,
    full_name=names,
    state=states,
    source=st.sampled_from([None, "explicit", "discovered"]),
    via=st.sampled_from([None, ACME, "owner:bob", INSTALLATION]),
    reason=st.sampled_from([None, "x", GONE_REASON]),
    archived=st.booleans(),
    synced=st.booleans(),
)
listings = st.builds(
    RepoListing,
    key=st.just(ACME),
    repos=st.lists(names.map(lambda n: ListedRepo(n)), max_size=5).map(tuple),
    ok=st.booleans(),
)


def _apply(rows: list[RowView], changes: list[Change]) -> list[RowView]:
    """The rows after the changes, through the same column mapping the database uses."""
    by_name = {r.full_name.lower(): r for r in rows}
    for change in changes:
        current = by_name.get(change.full_name.lower())
        values = column_values(change, current, NOW)
        base = current or RowView(change.full_name, "watched")
        by_name[change.full_name.lower()] = RowView(
            full_name=base.full_name,
            state=values["state"],
            source=values.get("watch_source", base.source),
            via=values.get("discovered_via", base.via),
            reason=values["state_reason"],
            archived=values.get("archived", base.archived),
            unwatched_at=values.get("unwatched_at", base.unwatched_at),
            synced=base.synced or change.sync,
        )
    return list(by_name.values())


unique_rows = st.lists(row_views, max_size=8, unique_by=lambda r: r.full_name)


@given(unique_rows, listings, st.lists(names, max_size=3), st.booleans())
def test_planning_twice_changes_nothing_more(
    rows: list[RowView], answer: RepoListing, explicit: list[str], app: bool
) -> None:
    d = desired_set(sources("acme/*", *explicit, app=app), {ACME: answer})
    after = _apply(rows, plan_changes(d, rows))
    assert plan_changes(d, after) == []


@given(unique_rows, listings, st.lists(names, max_size=3))
def test_safety_properties(rows: list[RowView], answer: RepoListing, explicit: list[str]) -> None:
    d = desired_set(sources("acme/*", *explicit), {ACME: answer})
    changes = plan_changes(d, rows)
    for change in changes:
        assert change.state != "retired"  # retiring is the sweep's job, after the grace period
        if change.full_name in explicit:
            assert change.state == "watched" or change.full_name.lower() not in d.repos
        if change.state == "unwatched" and change.full_name.startswith("acme/"):
            assert answer.trusted  # an untrusted listing never unwatches
    for name in explicit:
        assert d.repos[name].source == "explicit"
