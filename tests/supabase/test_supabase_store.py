"""The Supabase store against the SQLite store's behaviour tests, plus what only PostgreSQL can show.

The behaviour tests are imported from tests/unit/test_sqlite_store.py and run here with a service-role
SupabaseStore (the engine's key) over PostgRESTHarness, through AliasedStore (see aliases.py for
the two adaptations). The three tests that open SQLite files directly have PostgreSQL versions below.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime

import pytest

import tests.unit.test_sqlite_store as behaviour
from mimio_core.domain import VideoStatus
from mimio_core.store.base import ProjectError, Usage, VideoFilter
from mimio_core.store.supabase import SupabaseError, SupabaseStore, search_condition, supabase_client
from tests.supabase.aliases import AliasedStore
from tests.supabase.conftest import SERVICE_KEY, URL, USER_A, USER_B
from tests.unit.test_sqlite_store import (  # noqa: F401 - collected here, run against Supabase
    listed,
    test_blank_project_name_is_refused,
    test_claim_after_retry_clears_the_previous_attempt,
    test_claim_respects_capacity_across_calls_and_takes_oldest_first,
    test_completing_sets_progress_storage_and_completion_time,
    test_create_and_get_project,
    test_delete_video,
    test_duplicate_project_name_is_refused,
    test_filter_by_project,
    test_final_statuses_clear_the_lease,
    test_forbidden_transition_raises_and_changes_nothing,
    test_get_videos_keeps_the_asked_order_and_skips_missing,
    test_hold_leases_ignores_queued_videos,
    test_hold_leases_renews_the_owners_own_leases,
    test_hold_leases_takes_expired_leases_but_not_live_ones,
    test_insert_records_queued_videos_in_order,
    test_list_and_count_filters,
    test_list_projects_sorted_by_name_ignoring_case_per_user,
    test_list_videos_newest_first_for_one_user,
    test_pagination,
    test_progress_never_goes_backwards_while_processing,
    test_recovered_failed_video_without_owner_is_taken_by_hold_leases,
    test_transition_accepts_datetime_fields,
    test_transition_refuses_unknown_fields,
    test_transition_returns_none_for_another_owner,
    test_transition_returns_none_when_status_no_longer_matches,
    test_update_progress_applies_only_for_the_lease_owner,
    test_update_progress_is_clamped,
    test_videos_cannot_be_filed_under_another_users_or_a_missing_project,
    trips,
)

pytestmark = pytest.mark.service

Q, P, C, F = VideoStatus.QUEUED, VideoStatus.PROCESSING, VideoStatus.COMPLETED, VideoStatus.FAILED
USERS = {behaviour.USER: str(USER_A), behaviour.OTHER: str(USER_B)}


@pytest.fixture
def store(service_store, db) -> AliasedStore:
    return AliasedStore(service_store, db, USERS)


@pytest.fixture(autouse=True)
def lease_from_postgres(monkeypatch) -> None:
    """The behaviour tests' `lease_of(store.path, id)` reads SQLite; here `store.path` is the proxy."""
    monkeypatch.setattr(behaviour, "lease_of", lambda proxy, video_id: proxy.lease_of(video_id))


# --- the SQLite tests that open database files, for PostgreSQL ---------------------------------------


def test_records_survive_a_new_client(store, http):
    store.insert_videos([behaviour.video(1)])
    again = store.sibling(SupabaseStore(supabase_client(URL, SERVICE_KEY, http, retry=False)))
    assert again.get_video("v1").status is Q


def test_two_stores_never_claim_the_same_video(store, http):
    store.insert_videos([behaviour.video(n) for n in range(20)])
    stores = [SupabaseStore(supabase_client(URL, SERVICE_KEY, http, retry=False)) for _ in range(2)]
    claimed: dict[str, list[str]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claim(owner: str, mine: SupabaseStore) -> None:
        start.wait()
        for capacity in range(1, 21):
            claimed[owner] += [v.id for v in mine.claim_queued(owner, capacity=capacity, lease_seconds=30)]

    threads = [threading.Thread(target=claim, args=(o, s)) for o, s in zip("ab", stores, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert {store.name(v) for v in claimed["a"] + claimed["b"]} == {f"v{n}" for n in range(20)}
    assert store.count_videos(behaviour.USER, VideoFilter(status=P)) == 20
    for owner, mine in claimed.items():
        assert {store.lease_of(store.name(v))[0] for v in mine} <= {owner}


def test_two_stores_share_one_capacity(store, http):
    other = store.sibling(SupabaseStore(supabase_client(URL, SERVICE_KEY, http, retry=False)))
    store.insert_videos([behaviour.video(n) for n in range(6)])
    assert len(store.claim_queued("a", capacity=4, lease_seconds=30)) == 4
    assert other.claim_queued("b", capacity=4, lease_seconds=30) == []
    assert [v.id for v in other.claim_queued("b", capacity=5, lease_seconds=30)] == ["v4"]


# --- what PostgreSQL adds ---------------------------------------------------------------------------


def test_completing_without_a_file_is_refused_with_the_reason(service_store, store):
    store.insert_videos([behaviour.video(1)])
    store.claim_queued("a", capacity=1, lease_seconds=30)
    with pytest.raises(
        SupabaseError, match=r"^Could not move video .* from processing to completed: .*check"
    ):
        service_store.transition(store.uuid("v1"), P, C, owner="a")
    assert store.get_video("v1").status is P


def test_timestamps_are_aware_utc_datetimes(store):
    [recorded] = store.insert_videos([behaviour.video(1)])
    [claimed] = store.claim_queued("a", capacity=1, lease_seconds=30)
    for moment in (recorded.created_at, recorded.updated_at, claimed.started_at):
        assert moment.tzinfo is not None and moment.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - recorded.created_at).total_seconds()) < 30


def test_mark_creating_only_for_the_lease_owner(store):
    store.insert_videos([behaviour.video(1), behaviour.video(2)])
    store.claim_queued("a", capacity=2, lease_seconds=30)
    store.store.mark_creating([store.uuid("v1"), "not-a-uuid"], "a")
    store.store.mark_creating([store.uuid("v2")], "b")
    assert store.get_video("v1").create_started_at is not None
    assert store.get_video("v2").create_started_at is None
    store.store.mark_creating([store.uuid("v1")], "a", sent=False)  # it provably started nothing
    assert store.get_video("v1").create_started_at is None


def test_lease_owners_and_release(store):
    store.insert_videos([behaviour.video(n) for n in range(3)])
    store.claim_queued("a", capacity=2, lease_seconds=30)
    store.claim_queued("b", capacity=3, lease_seconds=30)
    assert store.store.lease_owners() == {"a", "b"}
    assert store.store.release_leases("a") == 2
    assert store.store.lease_owners() == {"b"}
    assert store.lease_of("v0") == (None, None)
    assert [v.id for v in store.hold_leases("c", lease_seconds=30)] == ["v0", "v1"]


def test_usage_and_project_counts_for_the_service_role_keep_to_one_user(store):
    ads = store.create_project(behaviour.USER, "Ads")
    theirs = store.create_project(behaviour.OTHER, "Theirs")
    store.insert_videos(
        [
            behaviour.video(1, project_id=ads.id),
            behaviour.video(2, project_id=ads.id, seconds=4),
            behaviour.video(3),
            behaviour.video(4, user_id=behaviour.OTHER, project_id=theirs.id),
            behaviour.video(5, user_id=behaviour.OTHER),
        ]
    )
    store.claim_queued("a", capacity=5, lease_seconds=30)
    for n in range(1, 6):
        store.transition(f"v{n}", P, C, owner="a")
    assert store.store.project_video_counts(str(USER_A)) == {ads.id: 2}
    assert store.store.project_video_counts(str(USER_B)) == {theirs.id: 1}
    assert sorted(store.usage(behaviour.USER), key=str) == sorted(
        [Usage(ads.id, "sora-2", "720x1280", 2, 12), Usage(None, "sora-2", "720x1280", 1, 8)], key=str
    )
    assert sorted(store.usage(behaviour.OTHER), key=str) == sorted(
        [Usage(theirs.id, "sora-2", "720x1280", 1, 8), Usage(None, "sora-2", "720x1280", 1, 8)], key=str
    )


def test_rename_and_delete_project(store):
    ads = store.create_project(behaviour.USER, "Ads", "old")
    store.create_project(behaviour.USER, "Taken")
    renamed = store.store.rename_project(str(USER_A), ads.id, "  Adverts ")
    assert (renamed.name, renamed.description) == ("Adverts", "old")
    assert store.store.rename_project(str(USER_A), ads.id, "Adverts", " new ").description == "new"
    with pytest.raises(ProjectError, match=r"^You already have a project named 'Taken'\.$"):
        store.store.rename_project(str(USER_A), ads.id, "Taken")
    for missing in ("not-a-uuid", "00000000-0000-4000-8000-000000000000"):
        with pytest.raises(
            ProjectError, match=r"^That project does not exist \(it may have been deleted\)\.$"
        ):
            store.store.rename_project(str(USER_A), missing, "X")
    store.insert_videos([behaviour.video(1, project_id=ads.id)])
    store.store.delete_project(str(USER_A), ads.id)
    assert store.get_project(behaviour.USER, ads.id) is None
    assert store.get_video("v1").project_id is None  # the video stays, unfiled


def test_a_long_project_description_is_refused_before_any_request(store, harness):
    before = len(harness.seen)
    with pytest.raises(ProjectError, match=r"^A project description can have at most 500 characters\.$"):
        store.create_project(behaviour.USER, "Ads", "x" * 501)
    assert len(harness.seen) == before


def test_ids_are_found_whatever_their_case(store):
    [recorded] = store.insert_videos([behaviour.video(1)])
    upper = store.uuid("v1").upper()
    assert store.store.get_videos([upper, upper]) == [store.store.get_video(store.uuid("v1"))] * 2
    assert store.store.insert_videos(
        [dataclasses.replace(behaviour.video(1), id=upper, user_id=str(USER_A))]
    ) == [store.store.get_video(upper)]
    assert recorded.id == "v1"


def test_ids_that_are_not_uuids_are_answered_without_a_request(service_store, harness):
    before = len(harness.seen)
    assert service_store.get_video("v1") is None
    assert service_store.get_videos(["v1", "v2"]) == []
    assert service_store.get_project(str(USER_A), "missing") is None
    assert service_store.list_projects("nobody") == []
    assert service_store.list_videos("nobody") == []
    assert service_store.list_videos(str(USER_A), VideoFilter(project_id="junk")) == []
    assert service_store.count_videos("nobody") == 0
    assert service_store.update_progress("v1", "a", 5, None) is False
    assert service_store.transition("v1", Q, F, error="x") is None
    service_store.delete_video("v1")
    service_store.delete_project(str(USER_A), "junk")
    assert len(harness.seen) == before


@pytest.mark.parametrize(
    ("search", "matches"),
    [
        ("a,b)", ["comma"]),
        ("%_", ["percent"]),
        ('say "hi"', ["quotes"]),
        ("back\\slash", ["backslash"]),
        ("or=(id.neq.x", ["syntax"]),
        ("x.eq.1", []),
        # PostgREST has no escape for `*` in like patterns: it matches any one character
        ("2*3", ["plain", "star"]),
        (":", ["syntax"]),
    ],
)
def test_search_is_text_not_postgrest_syntax(store, search, matches):
    titles = {
        "comma": "one a,b) two",
        "percent": "100%_off",
        "quotes": 'they say "hi" there',
        "backslash": "a back\\slash",
        "syntax": "or=(id.neq.x and a: colon",
        "star": "2*3 = 6",
        "plain": "nothing special ab 2x3 100 percent",
    }
    store.insert_videos([behaviour.video(name, title=title) for name, title in titles.items()])
    found = [
        store.name(v.id).removeprefix("v")
        for v in store.list_videos(behaviour.USER, VideoFilter(search=search))
    ]
    assert found == matches
    assert store.count_videos(behaviour.USER, VideoFilter(search=search)) == len(matches)


def test_search_condition_quotes_and_escapes():
    assert search_condition("a,b)") == 'title.ilike."*a,b)*",prompt.ilike."*a,b)*"'
    assert search_condition("%_") == 'title.ilike."*\\\\%\\\\_*",prompt.ilike."*\\\\%\\\\_*"'
    assert search_condition('"') == 'title.ilike."*\\"*",prompt.ilike."*\\"*"'
