"""Tests for the SQLite record store on a real database file: claims, leases, transitions, queries."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mimio_core.domain import QueueShare, VideoStatus
from mimio_core.status import InvalidTransition
from mimio_core.store.base import NewVideo, ProjectError, VideoFilter, reference_key
from mimio_core.store.sqlite import SCHEMA, SQLiteStore

Q, P, C, F = VideoStatus.QUEUED, VideoStatus.PROCESSING, VideoStatus.COMPLETED, VideoStatus.FAILED
USER, OTHER = "user-1", "user-2"


def video(n: int | str, **changes) -> NewVideo:
    values = {
        "id": f"v{n}",
        "user_id": USER,
        "title": f"Title {n}",
        "prompt": f"Prompt {n}",
        "model": "sora-2",
        "size": "720x1280",
        "seconds": 8,
    }
    values.update(changes)
    return NewVideo(**values)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "mimio.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(db_path)
    yield s
    s.close()


def ids(videos) -> list[str]:
    return [v.id for v in videos]


def lease_of(db_path: Path, video_id: str) -> tuple[str | None, float | None]:
    with sqlite3.connect(db_path) as raw:
        row = raw.execute(
            "SELECT lease_owner, lease_expires_at FROM videos WHERE id = ?", (video_id,)
        ).fetchone()
    return row[0], row[1]


# --- inserting and reading -----------------------------------------------------------------------


def test_insert_records_queued_videos_in_order(store):
    before = datetime.now(UTC)
    reference = reference_key(USER, "ab" * 32, "image/png")
    inserted = store.insert_videos(
        [video(3), video(1, project_id=None, batch_id="b-1", reference_path=reference), video(2)]
    )
    assert ids(inserted) == ["v3", "v1", "v2"]
    first, second = inserted[0], inserted[1]
    assert (first.status, first.progress, first.title, first.prompt) == (Q, 0, "Title 3", "Prompt 3")
    assert (first.model, first.size, first.seconds) == ("sora-2", "720x1280", 8)
    assert (second.batch_id, second.reference_path, second.external_video_id, second.error) == (
        "b-1",
        reference,
        None,
        None,
    )
    assert first.started_at is None and first.completed_at is None
    assert first.created_at.tzinfo is not None and first.created_at >= before.replace(microsecond=0)
    assert store.get_video("v1") == second


def test_get_videos_keeps_the_asked_order_and_skips_missing(store):
    store.insert_videos([video(1), video(2), video(3)])
    assert ids(store.get_videos(["v3", "nope", "v1"])) == ["v3", "v1"]
    assert store.get_videos([]) == []
    assert store.get_video("nope") is None


def test_records_survive_reopening(db_path):
    first = SQLiteStore(db_path)
    first.insert_videos([video(1)])
    first.close()
    again = SQLiteStore(db_path)
    try:
        assert again.get_video("v1").status is Q
    finally:
        again.close()


def test_delete_video(store):
    store.insert_videos([video(1), video(2)])
    store.delete_video("v1")
    assert store.get_video("v1") is None
    assert ids(store.get_videos(["v1", "v2"])) == ["v2"]


# --- claiming ------------------------------------------------------------------------------------


def test_claim_respects_capacity_across_calls_and_takes_oldest_first(store):
    store.insert_videos([video(1), video(2)])
    store.insert_videos([video(3)])
    store.insert_videos([video(4), video(5)])

    claimed = store.claim_queued("engine-a", capacity=2, lease_seconds=30)
    assert ids(claimed) == ["v1", "v2"]
    assert all(v.status is P and v.progress == 0 and v.started_at is not None for v in claimed)
    assert store.claim_queued("engine-a", capacity=2, lease_seconds=30) == []

    assert store.transition("v1", P, C, owner="engine-a", storage_path="u/v1.mp4") is not None
    assert ids(store.claim_queued("engine-a", capacity=2, lease_seconds=30)) == ["v3"]
    # processing rows held by another engine count too
    assert ids(store.claim_queued("engine-b", capacity=3, lease_seconds=30)) == ["v4"]
    assert ids(store.claim_queued("engine-b", capacity=10, lease_seconds=30)) == ["v5"]
    assert store.claim_queued("engine-b", capacity=10, lease_seconds=30) == []
    assert lease_of(store.path, "v4")[0] == "engine-b"
    assert lease_of(store.path, "v2")[0] == "engine-a"


def test_claim_after_retry_clears_the_previous_attempt(store):
    store.insert_videos([video(1)])
    store.claim_queued("a", capacity=1, lease_seconds=30)
    store.update_progress("v1", "a", 40, "job-1")
    store.transition("v1", P, F, owner="a", error="provider said no")
    requeued = store.transition("v1", F, Q)
    assert (requeued.status, requeued.error, requeued.external_video_id) == (Q, "provider said no", "job-1")
    [again] = store.claim_queued("a", capacity=1, lease_seconds=30)
    assert (again.status, again.progress, again.error, again.external_video_id) == (P, 0, None, None)


def test_two_stores_on_one_file_never_claim_the_same_video(db_path):
    setup = SQLiteStore(db_path)
    setup.insert_videos([video(n) for n in range(20)])
    stores = [SQLiteStore(db_path), SQLiteStore(db_path)]
    claimed: dict[str, list[str]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claim(owner: str, store: SQLiteStore) -> None:
        start.wait()
        for capacity in range(1, 21):
            claimed[owner] += ids(store.claim_queued(owner, capacity=capacity, lease_seconds=30))

    threads = [threading.Thread(target=claim, args=(o, s)) for o, s in zip("ab", stores, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert not set(claimed["a"]) & set(claimed["b"])
        assert len(claimed["a"]) + len(claimed["b"]) == 20
        assert set(claimed["a"]) | set(claimed["b"]) == {f"v{n}" for n in range(20)}
        assert setup.count_videos(USER, VideoFilter(status=P)) == 20
        for owner, mine in claimed.items():
            assert {lease_of(db_path, v)[0] for v in mine} <= {owner}
    finally:
        for s in [setup, *stores]:
            s.close()


def test_two_stores_share_one_capacity(db_path):
    a, b = SQLiteStore(db_path), SQLiteStore(db_path)
    try:
        a.insert_videos([video(n) for n in range(6)])
        assert len(a.claim_queued("a", capacity=4, lease_seconds=30)) == 4
        assert b.claim_queued("b", capacity=4, lease_seconds=30) == []
        assert ids(b.claim_queued("b", capacity=5, lease_seconds=30)) == ["v4"]
    finally:
        a.close()
        b.close()


# --- transitions ---------------------------------------------------------------------------------


def test_forbidden_transition_raises_and_changes_nothing(store):
    store.insert_videos([video(1)])
    store.claim_queued("a", capacity=1, lease_seconds=30)
    store.transition("v1", P, C, owner="a")
    with pytest.raises(InvalidTransition, match=r"^a video cannot go from completed to queued$"):
        store.transition("v1", C, Q)
    assert store.get_video("v1").status is C


def test_transition_returns_none_when_status_no_longer_matches(store):
    store.insert_videos([video(1)])
    store.claim_queued("a", capacity=1, lease_seconds=30)
    assert store.transition("v1", Q, F, error="cancelled") is None
    assert store.get_video("v1").status is P
    assert store.transition("v1", P, C, owner="a") is not None
    assert store.transition("v1", P, F, owner="a", error="late") is None
    assert store.get_video("v1").error is None


def test_transition_returns_none_for_another_owner(store):
    store.insert_videos([video(1)])
    store.claim_queued("a", capacity=1, lease_seconds=30)
    assert store.transition("v1", P, F, owner="b", error="not mine") is None
    assert store.get_video("v1").status is P
    failed = store.transition("v1", P, F, owner="a", error="timed out")
    assert (failed.status, failed.error) == (F, "timed out")


def test_completing_sets_progress_storage_and_completion_time(store):
    store.insert_videos([video(1)])
    store.claim_queued("a", capacity=1, lease_seconds=30)
    store.update_progress("v1", "a", 30, "job-9")
    done = store.transition("v1", P, C, owner="a", storage_path="user-1/v1.mp4")
    assert (done.status, done.progress, done.storage_path, done.external_video_id) == (
        C,
        100,
        "user-1/v1.mp4",
        "job-9",
    )
    assert done.completed_at is not None and done.completed_at >= done.started_at


def test_transition_accepts_datetime_fields(store):
    store.insert_videos([video(1)])
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    failed = store.transition("v1", Q, F, error="cancelled", completed_at=when)
    assert failed.completed_at == when


def test_transition_refuses_unknown_fields(store):
    store.insert_videos([video(1)])
    with pytest.raises(ValueError, match=r"^not a writable video field: lease_owner, title$"):
        store.transition("v1", Q, F, title="x", lease_owner="me")
    assert store.get_video("v1").status is Q


@pytest.mark.parametrize("final", [C, F])
def test_final_statuses_clear_the_lease(store, final):
    store.insert_videos([video(1)])
    store.claim_queued("a", capacity=1, lease_seconds=0.05)
    assert lease_of(store.path, "v1")[0] == "a"
    assert store.transition("v1", P, final, owner="a") is not None
    assert lease_of(store.path, "v1") == (None, None)
    time.sleep(0.08)
    assert store.hold_leases("b", lease_seconds=30) == []
    assert store.get_video("v1").status is final


def test_recovered_failed_video_without_owner_is_taken_by_hold_leases(store):
    store.insert_videos([video(1)])
    store.claim_queued("a", capacity=1, lease_seconds=30)
    store.transition("v1", P, F, owner="a", error="transfer kept failing")
    store.transition("v1", F, P)
    assert ids(store.hold_leases("b", lease_seconds=30)) == ["v1"]
    assert lease_of(store.path, "v1")[0] == "b"


# --- leases --------------------------------------------------------------------------------------


def test_hold_leases_takes_expired_leases_but_not_live_ones(store):
    store.insert_videos([video(1), video(2)])
    store.claim_queued("a", capacity=1, lease_seconds=0.05)
    store.claim_queued("live", capacity=2, lease_seconds=30)
    assert store.hold_leases("b", lease_seconds=30) == []  # both still held
    time.sleep(0.1)
    taken = store.hold_leases("b", lease_seconds=30)
    assert ids(taken) == ["v1"]
    assert lease_of(store.path, "v1")[0] == "b"
    assert lease_of(store.path, "v2")[0] == "live"
    # the old owner has lost it: its writes no longer apply
    assert store.hold_leases("a", lease_seconds=30) == []
    assert store.transition("v1", P, C, owner="a") is None
    store.update_progress("v1", "a", 77, "job-a")
    assert (store.get_video("v1").progress, store.get_video("v1").external_video_id) == (0, None)


def test_hold_leases_renews_the_owners_own_leases(store):
    store.insert_videos([video(1), video(2)])
    store.claim_queued("a", capacity=2, lease_seconds=0.05)
    assert ids(store.hold_leases("a", lease_seconds=30)) == ["v1", "v2"]
    time.sleep(0.1)
    assert store.hold_leases("b", lease_seconds=30) == []
    assert ids(store.hold_leases("a", lease_seconds=30)) == ["v1", "v2"]


def test_hold_leases_ignores_queued_videos(store):
    store.insert_videos([video(1)])
    assert store.hold_leases("a", lease_seconds=30) == []
    assert store.get_video("v1").status is Q


# --- progress ------------------------------------------------------------------------------------


def test_update_progress_applies_only_for_the_lease_owner(store):
    store.insert_videos([video(1), video(2)])
    store.claim_queued("a", capacity=1, lease_seconds=30)
    store.update_progress("v1", "a", 42, "job-1")
    assert (store.get_video("v1").progress, store.get_video("v1").external_video_id) == (42, "job-1")
    store.update_progress("v1", "b", 90, "job-x")
    assert (store.get_video("v1").progress, store.get_video("v1").external_video_id) == (42, "job-1")
    store.update_progress("v1", "a", 60, None)  # no id: the known one is kept
    assert (store.get_video("v1").progress, store.get_video("v1").external_video_id) == (60, "job-1")
    store.update_progress("v2", "a", 50, "job-2")  # still queued
    assert (store.get_video("v2").progress, store.get_video("v2").external_video_id) == (0, None)


def test_mark_creating_notes_the_call_and_clears_it_when_nothing_started(store):
    store.insert_videos([video(1), video(2)])
    store.claim_queued("a", capacity=2, lease_seconds=30)
    store.mark_creating(["v1", "v2"], "a")
    store.mark_creating(["v2"], "b")  # not b's video: nothing changes
    assert store.get_video("v2").create_started_at is not None
    store.mark_creating(["v1"], "a", sent=False)
    assert store.get_video("v1").create_started_at is None
    assert store.get_video("v2").create_started_at is not None


@pytest.mark.parametrize(("given", "stored"), [(150, 100), (-5, 0), (100, 100)])
def test_update_progress_is_clamped(store, given, stored):
    store.insert_videos([video(1)])
    store.claim_queued("a", capacity=1, lease_seconds=30)
    store.update_progress("v1", "a", given, None)
    assert store.get_video("v1").progress == stored


# --- listing and counting ------------------------------------------------------------------------


@pytest.fixture
def trips(store) -> str:
    return store.create_project(USER, "Trips").id


@pytest.fixture
def listed(store, trips) -> SQLiteStore:
    """Five videos of USER (v0 completed, v1 processing, the rest queued; v2 and v3 in project trips)."""
    store.insert_videos(
        [
            video(0, title="Beach at 50% zoom", prompt="sand"),
            video(1, title="Beach at 500 zoom", prompt="waves", model="sora-2-pro"),
            video(2, title="file_name", prompt="snake case", project_id=trips),
            video(3, title="filename", prompt="flat case", project_id=trips),
            video(4, title="Mountain", prompt="a path\\to the top", model="sora-2-pro"),
            video(5, user_id=OTHER, title="Beach of someone else"),
        ]
    )
    store.claim_queued("a", capacity=2, lease_seconds=30)  # v0, v1
    store.transition("v0", P, C, owner="a")
    return store


def test_list_videos_newest_first_for_one_user(listed):
    assert ids(listed.list_videos(USER)) == ["v4", "v3", "v2", "v1", "v0"]
    assert ids(listed.list_videos(OTHER)) == ["v5"]
    assert listed.list_videos("nobody") == []


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (VideoFilter(status=Q), ["v4", "v3", "v2"]),
        (VideoFilter(status=P), ["v1"]),
        (VideoFilter(status=C), ["v0"]),
        (VideoFilter(status=F), []),
        (VideoFilter(model="sora-2-pro"), ["v4", "v1"]),
        (VideoFilter(search="beach"), ["v1", "v0"]),
        (VideoFilter(search="50%"), ["v0"]),
        (VideoFilter(search="file_"), ["v2"]),
        (VideoFilter(search="path\\to"), ["v4"]),
        (VideoFilter(search="WAVES"), ["v1"]),
        (VideoFilter(search=""), ["v4", "v3", "v2", "v1", "v0"]),
        (VideoFilter(status=Q, model="sora-2", search="file"), ["v3", "v2"]),
    ],
)
def test_list_and_count_filters(listed, where, expected):
    assert ids(listed.list_videos(USER, where)) == expected
    assert listed.count_videos(USER, where) == len(expected)


def test_filter_by_project(listed, trips):
    where = VideoFilter(project_id=trips)
    assert ids(listed.list_videos(USER, where)) == ["v3", "v2"]
    assert listed.count_videos(USER, where) == 2


def test_pagination(listed):
    pages = [ids(listed.list_videos(USER, limit=2, offset=offset)) for offset in (0, 2, 4, 6)]
    assert pages == [["v4", "v3"], ["v2", "v1"], ["v0"], []]
    assert listed.count_videos(USER) == 5
    assert listed.count_videos(OTHER) == 1


# --- projects ------------------------------------------------------------------------------------


def test_create_and_get_project(store):
    project = store.create_project(USER, "  Summer \n  trip ", "  seaside videos  ")
    assert (project.user_id, project.name, project.description) == (USER, "Summer trip", "seaside videos")
    assert project.created_at == project.updated_at
    assert store.get_project(USER, project.id) == project
    assert store.get_project(OTHER, project.id) is None
    assert store.get_project(USER, "missing") is None


def test_list_projects_sorted_by_name_ignoring_case_per_user(store):
    for name in ("gamma", "Alpha", "beta"):
        store.create_project(USER, name)
    store.create_project(OTHER, "Aardvark")
    assert [p.name for p in store.list_projects(USER)] == ["Alpha", "beta", "gamma"]
    assert [p.name for p in store.list_projects(OTHER)] == ["Aardvark"]
    assert store.list_projects("nobody") == []


def test_duplicate_project_name_is_refused(store):
    store.create_project(USER, "Summer trip")
    with pytest.raises(ProjectError) as caught:
        store.create_project(USER, "  Summer   trip ")
    assert str(caught.value) == "You already have a project named 'Summer trip'."
    # the failed insert was rolled back: the store still works and other users may use the name
    assert store.create_project(OTHER, "Summer trip").name == "Summer trip"
    assert store.create_project(USER, "Winter").name == "Winter"
    assert [p.name for p in store.list_projects(USER)] == ["Summer trip", "Winter"]


@pytest.mark.parametrize("name", ["", "   ", "\n\t"])
def test_blank_project_name_is_refused(store, name):
    with pytest.raises(ProjectError) as caught:
        store.create_project(USER, name)
    assert str(caught.value) == "A project needs a name."
    assert store.list_projects(USER) == []


def test_videos_cannot_be_filed_under_another_users_or_a_missing_project(store):
    theirs = store.create_project(OTHER, "Theirs")
    for project_id in (theirs.id, "no-such-project"):
        pattern = rf"^Project {project_id} does not exist \(it may have been deleted\)\.$"
        with pytest.raises(ProjectError, match=pattern):
            store.insert_videos([video(1), video(2, project_id=project_id)])
    assert store.count_videos(USER) == 0


def test_progress_never_goes_backwards_while_processing(store):
    store.insert_videos([video(1)])
    store.claim_queued("a", 1, 30)
    assert store.update_progress("v1", "a", 60, "job-1") is True
    assert store.update_progress("v1", "a", 20, None) is True
    assert store.get_video("v1").progress == 60
    assert store.update_progress("v1", "someone-else", 90, None) is False


# --- where a processing video is at its provider ---------------------------------------------------


def test_the_providers_note_is_kept_with_progress_and_cleared_by_any_change_of_status(store):
    store.insert_videos([video(1)])
    store.claim_queued("engine-1", 1, 30)
    assert store.update_progress("v1", "engine-1", 0, "job-1", "Waiting at fal.ai, position 3")
    assert store.get_video("v1").status_note == "Waiting at fal.ai, position 3"
    assert store.update_progress("v1", "engine-1", 0, None, "Generating at fal.ai")
    assert store.get_video("v1").status_note == "Generating at fal.ai"
    assert not store.update_progress("v1", "engine-2", 0, None, "someone else's")  # not the holder
    failed = store.transition("v1", P, F, owner="engine-1", error="timed out")
    assert (failed.status, failed.status_note) == (F, None)


def test_a_database_of_the_previous_version_gains_the_note_column_and_keeps_its_rows(db_path):
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as old:  # the videos table as the previous release made it
        old.executescript(
            SCHEMA.replace(",\n    status_note TEXT", "")
            + "INSERT INTO videos (id, user_id, title, prompt, model, size, duration_seconds, status,"
            " progress, external_video_id, created_at, updated_at)"
            " VALUES ('old', 'user-1', 'Old', 'p', 'sora-2', '720x1280', 4, 'processing', 40, 'job-9', 1, 2);"
        )
        assert "status_note" not in {row[1] for row in old.execute("PRAGMA table_info(videos)")}
    reopened = SQLiteStore(db_path)
    try:
        kept = reopened.get_video("old")
        assert (kept.status, kept.progress, kept.external_video_id, kept.status_note) == (
            P,
            40,
            "job-9",
            None,
        )
    finally:
        reopened.close()
    SQLiteStore(db_path).close()  # opening it again changes nothing more


# --- one provider's share of the queue -------------------------------------------------------------


def test_each_share_of_the_queue_has_its_own_capacity(store):
    store.insert_videos(
        [
            video("fal-1", model="fal-veo-3.1"),
            video("fal-2", model="fal-veo-3.1"),
            video("local-1", model="mimio-local"),
            video("gone-1", model="a-model-nobody-serves"),
        ]
    )
    fal = QueueShare(frozenset({"fal-veo-3.1"}))
    default = QueueShare(frozenset({"fal-veo-3.1"}), exclude=True)  # the default provider: the rest
    assert ids(store.claim_queued("engine-1", 1, 30, fal)) == ["vfal-1"]
    assert ids(store.claim_queued("engine-1", 1, 30, fal)) == []  # fal's one slot is taken ...
    assert ids(store.claim_queued("engine-1", 1, 30, default)) == ["vlocal-1"]  # ... the other is not
    assert ids(store.claim_queued("engine-1", 2, 30, default)) == ["vgone-1"]  # claimed, then refused
    assert ids(store.claim_queued("engine-1", 9, 30)) == ["vfal-2"]  # the whole queue: 4 active < 9
