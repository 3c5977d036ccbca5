"""The Library contract (videos and projects as the pages and the CLI read and record them), on every
backend."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mimio_core.domain import TrackedVideo, VideoStatus
from mimio_core.status import STATE_GROUPS
from mimio_core.store.base import ProjectError, Usage, VideoFilter, VideoStore, reference_key
from tests.contract.conftest import A, B, Backend, ids, new_video, put

S = VideoStatus
MISSING = "That project does not exist (it may have been deleted)."


def aware_utc(moment: datetime | None) -> bool:
    return moment is not None and moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


# --- inserting and reading ----------------------------------------------------------------------------


def test_insert_records_queued_videos_in_order_with_their_fields(store):
    before = datetime.now(UTC)
    reference = reference_key(A, "ab" * 32, "image/png")
    batch = str(uuid.uuid4())
    third, first, second = (
        new_video(title="Third", prompt="a fox", model="sora-2", size="1280x720", seconds=4),
        new_video(batch_id=batch, reference_path=reference),
        new_video(),
    )
    inserted = store.insert_videos([third, first, second])
    assert ids(inserted) == [third.id, first.id, second.id]
    recorded = inserted[0]
    assert recorded == TrackedVideo(
        id=third.id,
        user_id=A,
        title="Third",
        prompt="a fox",
        model="sora-2",
        size="1280x720",
        seconds=4,
        status=S.QUEUED,
        progress=0,
        created_at=recorded.created_at,
        updated_at=recorded.updated_at,
        queue_order=recorded.created_at.timestamp(),  # its place in the queue is its age
    )
    assert (inserted[1].batch_id, inserted[1].reference_path, inserted[1].project_id) == (
        batch,
        reference,
        None,
    )
    assert [video.status for video in inserted] == [S.QUEUED] * 3
    # oldest first is submission order, even within one insert
    assert inserted[0].created_at < inserted[1].created_at < inserted[2].created_at
    for moment in (recorded.created_at, recorded.updated_at):
        assert aware_utc(moment)
        assert abs(moment - before) < timedelta(seconds=30)
    assert store.get_video(first.id) == inserted[1]
    assert store.get_videos(ids(inserted)) == inserted


# a moment (as time.time() gives it) where a microsecond more is the same microsecond once read back
COLLIDING_MOMENT = 1796227556.5420825


def test_sqlite_keeps_submission_order_in_created_at_at_any_moment(tmp_path, monkeypatch):
    """SQLite only (its clock is the process's): the same promise as above, at a moment where it breaks."""
    import types

    from mimio_core.store import sqlite

    monkeypatch.setattr(sqlite, "time", types.SimpleNamespace(time=lambda: COLLIDING_MOMENT))
    store = sqlite.SQLiteStore(tmp_path / "mimio.sqlite3")
    try:
        inserted = store.insert_videos([new_video(), new_video(), new_video()])
        assert ids(store.list_videos(A)) == ids(inserted)[::-1]  # the stored order is right ...
        assert inserted[0].created_at < inserted[1].created_at < inserted[2].created_at  # ... and read back
    finally:
        store.close()


def test_insert_of_nothing_records_nothing(store):
    assert store.insert_videos([]) == []
    assert store.count_videos(A) == 0


def test_a_repeated_insert_records_each_id_once(store):
    first, second, third = new_video(), new_video(), new_video()
    recorded = store.insert_videos([first, second])
    again = store.insert_videos([dataclasses.replace(first, title="Changed"), third, second])
    assert again[0] == recorded[0] and again[2] == recorded[1]  # left as they were, and returned
    assert (again[1].id, again[1].title, again[1].status) == (third.id, third.title, S.QUEUED)
    assert store.count_videos(A) == 3
    assert store.get_video(first.id).title == first.title


def test_an_id_of_another_users_video_is_neither_recorded_nor_returned(store):
    [mine] = store.insert_videos([new_video()])
    theirs = dataclasses.replace(new_video(user_id=B), id=mine.id, title="Not yours")
    assert store.insert_videos([theirs]) == []
    assert store.get_video(mine.id) == mine
    assert store.count_videos(B) == 0


def test_get_videos_keeps_the_asked_order_and_skips_missing(store):
    one, two, three = store.insert_videos([new_video(), new_video(), new_video()])
    missing = str(uuid.uuid4())
    assert store.get_videos([three.id, missing, one.id, "not-a-uuid"]) == [three, one]
    assert store.get_videos([two.id, two.id]) == [two, two]
    assert store.get_videos([]) == []
    assert store.get_video(missing) is None
    assert store.get_video("not-a-uuid") is None


def test_records_are_seen_by_another_connection(backend: Backend):
    [recorded] = backend.store.insert_videos([new_video()])
    other = backend.sibling()
    try:
        assert other.get_video(recorded.id) == recorded
    finally:
        other.close()


# --- listing, filtering, counting ---------------------------------------------------------------------


@pytest.fixture
def listed(store: VideoStore) -> dict[str, str]:
    """Eight videos of USER_A (oldest first) in every kind of state, and one of USER_B; their ids."""
    trips = store.create_project(A, "Trips").id
    made = {
        "completed": put(store, S.COMPLETED, title="Beach at 50% zoom", prompt="sand", model="sora-2"),
        "generating": put(store, S.GENERATING, title="Beach at 500 zoom", prompt="waves", model="sora-2-pro"),
        "failed": put(store, S.FAILED, title="Desert", prompt="dunes", model="sora-2"),
        "cancelled": put(store, S.CANCELLED, title="Forest", prompt="trees", model="sora-2"),
        "claimed": put(store, S.CLAIMED, title="Glacier", prompt="ice", model="sora-2"),
        "snake": put(
            store, S.QUEUED, title="file_name", prompt="snake case", project_id=trips, model="sora-2"
        ),
        "flat": put(store, S.QUEUED, title="filename", prompt="flat case", project_id=trips, model="sora-2"),
        "mountain": put(store, S.QUEUED, title="Mountain", prompt="a path\\to the top", model="sora-2-pro"),
    }
    [theirs] = store.insert_videos([new_video(B, title="Beach of someone else", model="sora-2")])
    return {**made, "theirs": theirs.id, "trips": trips}


NEWEST_FIRST = ["mountain", "flat", "snake", "claimed", "cancelled", "failed", "generating", "completed"]


def test_list_videos_newest_first_for_one_user(store, listed):
    assert ids(store.list_videos(A)) == [listed[name] for name in NEWEST_FIRST]
    assert ids(store.list_videos(B)) == [listed["theirs"]]
    assert store.list_videos(str(uuid.uuid4())) == []
    assert store.count_videos(A) == 8
    assert store.count_videos(B) == 1
    assert store.count_videos(str(uuid.uuid4())) == 0


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (VideoFilter(states=frozenset({S.QUEUED})), ["mountain", "flat", "snake"]),
        (VideoFilter(states=frozenset({S.CLAIMED})), ["claimed"]),
        (VideoFilter(states=STATE_GROUPS["in progress"]), ["claimed", "generating"]),
        (VideoFilter(states=STATE_GROUPS["completed"]), ["completed"]),
        (VideoFilter(states=STATE_GROUPS["failed"]), ["failed"]),
        (VideoFilter(states=STATE_GROUPS["cancelled"]), ["cancelled"]),
        (VideoFilter(states=frozenset({S.CREATING, S.TRANSFERRING})), []),
        (VideoFilter(states=frozenset({S.FAILED, S.CANCELLED})), ["cancelled", "failed"]),
        (VideoFilter(model="sora-2-pro"), ["mountain", "generating"]),
        (VideoFilter(model="nobody's"), []),
        (VideoFilter(search="beach"), ["generating", "completed"]),
        (VideoFilter(search="50%"), ["completed"]),
        (VideoFilter(search="file_"), ["snake"]),
        (VideoFilter(search="path\\to"), ["mountain"]),
        (VideoFilter(search="WAVES"), ["generating"]),
        (VideoFilter(search="ice"), ["claimed"]),  # in the prompt
        (VideoFilter(search=""), NEWEST_FIRST),
        (VideoFilter(states=frozenset({S.QUEUED}), model="sora-2", search="file"), ["flat", "snake"]),
    ],
)
def test_list_and_count_filters(store, listed, where, expected):
    assert ids(store.list_videos(A, where)) == [listed[name] for name in expected]
    assert store.count_videos(A, where) == len(expected)


def test_filter_by_project(store, listed):
    trips = listed["trips"]
    where = VideoFilter(project_id=trips)
    assert ids(store.list_videos(A, where)) == [listed["flat"], listed["snake"]]
    assert store.count_videos(A, where) == 2
    busy = VideoFilter(project_id=trips, states=STATE_GROUPS["in progress"])
    assert (store.list_videos(A, busy), store.count_videos(A, busy)) == ([], 0)
    # a project of theirs shows none of their videos to someone else
    assert (store.list_videos(B, where), store.count_videos(B, where)) == ([], 0)
    nowhere = VideoFilter(project_id=str(uuid.uuid4()))
    assert (store.list_videos(A, nowhere), store.count_videos(A, nowhere)) == ([], 0)


def test_pagination(store, listed):
    pages = [ids(store.list_videos(A, limit=3, offset=offset)) for offset in (0, 3, 6, 9)]
    expected = [listed[name] for name in NEWEST_FIRST]
    assert pages == [expected[0:3], expected[3:6], expected[6:8], []]
    where = VideoFilter(states=frozenset({S.QUEUED}))
    assert ids(store.list_videos(A, where, limit=2, offset=1)) == [listed["flat"], listed["snake"]]


SEARCHED = {
    "comma": "one a,b) two",
    "percent": "100%_off",
    "quotes": 'they say "hi" there',
    "apostrophe": "it's here",
    "backslash": "a back\\slash",
    "syntax": "or=(id.neq.x and a: colon",
    "star": "2*3 = 6",
    "plain": "nothing special ab 2x3 100 percent",
}


# `*` is text on SQLite; PostgREST reads it as a wildcard and has no escape for it, so the Supabase store
# makes it `_` (any one character; see supabase.search_condition): there it matches any character.
@pytest.mark.parametrize(
    ("search", "matches"),
    [
        ("a,b)", ["comma"]),
        ("%_", ["percent"]),
        ("100%", ["percent"]),
        ("_off", ["percent"]),
        ('say "hi"', ["quotes"]),
        ("it's", ["apostrophe"]),
        ("back\\slash", ["backslash"]),
        ("or=(id.neq.x", ["syntax"]),
        ("x.eq.1", []),
        (":", ["syntax"]),
        ("2*3", {"sqlite": ["star"], "supabase": ["plain", "star"]}),
        ("*", {"sqlite": ["star"], "supabase": sorted(SEARCHED)}),
    ],
)
def test_search_is_text(backend: Backend, search, matches):
    store = backend.store
    recorded = store.insert_videos([new_video(title=title, prompt="-") for title in SEARCHED.values()])
    name_of = dict(zip(ids(recorded), SEARCHED, strict=True))
    if isinstance(matches, dict):
        matches = matches[backend.name]
    where = VideoFilter(search=search)
    assert sorted(name_of[video.id] for video in store.list_videos(A, where)) == sorted(matches)
    assert store.count_videos(A, where) == len(matches)


# --- usage --------------------------------------------------------------------------------------------


def test_usage_counts_completed_videos_only_per_project_model_and_size(store):
    ads = store.create_project(A, "Ads").id
    theirs = store.create_project(B, "Theirs").id
    put(store, S.COMPLETED, project_id=ads, model="sora-2", seconds=4)
    put(store, S.COMPLETED, project_id=ads, model="sora-2", seconds=8)
    put(store, S.COMPLETED, model="sora-2")
    put(store, S.COMPLETED, model="sora-2", size="1280x720", seconds=12)
    put(store, S.COMPLETED, project_id=ads, model="sora-2-pro")
    for unfinished in (S.QUEUED, S.CLAIMED, S.GENERATING, S.TRANSFERRING, S.FAILED, S.CANCELLED):
        put(store, unfinished, project_id=ads, model=f"other-{unfinished}")
    put(store, S.COMPLETED, user_id=B, project_id=theirs, model="sora-2")
    assert sorted(store.usage(A), key=str) == sorted(
        [
            Usage(ads, "sora-2", "720x1280", 2, 12),
            Usage(None, "sora-2", "720x1280", 1, 8),
            Usage(None, "sora-2", "1280x720", 1, 12),
            Usage(ads, "sora-2-pro", "720x1280", 1, 8),
        ],
        key=str,
    )
    assert store.usage(B) == [Usage(theirs, "sora-2", "720x1280", 1, 8)]
    assert store.usage(str(uuid.uuid4())) == []


# --- projects -----------------------------------------------------------------------------------------


def test_create_and_get_project(store):
    before = datetime.now(UTC)
    project = store.create_project(A, "  Summer \n  trip ", "  seaside videos  ")
    assert (project.user_id, project.name, project.description) == (A, "Summer trip", "seaside videos")
    assert project.created_at == project.updated_at
    assert aware_utc(project.created_at) and abs(project.created_at - before) < timedelta(seconds=30)
    assert store.get_project(A, project.id) == project
    assert store.get_project(B, project.id) is None
    assert store.get_project(A, str(uuid.uuid4())) is None
    assert store.get_project(A, "missing") is None
    assert store.create_project(A, "Plain").description == ""


def test_list_projects_sorted_by_name_ignoring_case_per_user(store):
    for name in ("gamma", "Alpha", "beta", "Delta"):
        store.create_project(A, name)
    store.create_project(B, "Aardvark")
    assert [p.name for p in store.list_projects(A)] == ["Alpha", "beta", "Delta", "gamma"]
    assert [p.name for p in store.list_projects(B)] == ["Aardvark"]
    assert store.list_projects(str(uuid.uuid4())) == []


def test_duplicate_project_name_is_refused(store):
    store.create_project(A, "Summer trip")
    with pytest.raises(ProjectError) as caught:
        store.create_project(A, "  Summer   trip ")
    assert str(caught.value) == "You already have a project named 'Summer trip'."
    # the failed insert was undone: the store still works and other users may use the name
    assert store.create_project(B, "Summer trip").name == "Summer trip"
    assert store.create_project(A, "Winter").name == "Winter"
    assert [p.name for p in store.list_projects(A)] == ["Summer trip", "Winter"]


@pytest.mark.parametrize("name", ["", "   ", "\n\t"])
def test_blank_project_name_is_refused(store, name):
    with pytest.raises(ProjectError) as caught:
        store.create_project(A, name)
    assert str(caught.value) == "A project needs a name."
    assert store.list_projects(A) == []


def test_a_project_name_over_80_characters_is_refused(store):
    with pytest.raises(ProjectError, match=r"^A project name can have at most 80 characters\.$"):
        store.create_project(A, "x" * 81)
    assert store.create_project(A, "x" * 80).name == "x" * 80
    assert len(store.list_projects(A)) == 1


def test_rename_project(store):
    ads = store.create_project(A, "Ads", "old")
    store.create_project(A, "Taken")
    renamed = store.rename_project(A, ads.id, "  Adverts ")
    assert (renamed.id, renamed.name, renamed.description, renamed.created_at) == (
        ads.id,
        "Adverts",
        "old",
        ads.created_at,
    )
    assert renamed.updated_at >= ads.updated_at
    assert store.rename_project(A, ads.id, "Adverts", " new ").description == "new"
    assert store.get_project(A, ads.id).description == "new"
    with pytest.raises(ProjectError, match=r"^You already have a project named 'Taken'\.$"):
        store.rename_project(A, ads.id, "Taken")
    with pytest.raises(ProjectError, match=r"^A project needs a name\.$"):
        store.rename_project(A, ads.id, "  ")
    for missing in ("not-a-uuid", str(uuid.uuid4())):
        with pytest.raises(ProjectError) as caught:
            store.rename_project(A, missing, "X")
        assert str(caught.value) == MISSING
    with pytest.raises(ProjectError) as caught:  # not theirs to rename
        store.rename_project(B, ads.id, "Mine now")
    assert str(caught.value) == MISSING
    assert [(p.name, p.description) for p in store.list_projects(A)] == [("Adverts", "new"), ("Taken", "")]


def test_delete_project_keeps_its_videos(store):
    ads = store.create_project(A, "Ads")
    [filed, loose] = store.insert_videos([new_video(project_id=ads.id), new_video()])
    store.delete_project(B, ads.id)  # not theirs: nothing happens
    assert store.get_project(A, ads.id) == ads
    store.delete_project(A, ads.id)
    assert store.get_project(A, ads.id) is None
    assert store.list_projects(A) == []
    kept = store.get_video(filed.id)
    assert kept.project_id is None  # the video stays, unfiled
    assert dataclasses.replace(kept, project_id=ads.id, updated_at=filed.updated_at) == filed
    assert store.get_video(loose.id) == loose
    store.delete_project(A, ads.id)  # gone already: nothing happens
    store.delete_project(A, "not-a-uuid")


def test_project_video_counts_per_user(store):
    ads, trips, empty = (store.create_project(A, name).id for name in ("Ads", "Trips", "Empty"))
    theirs = store.create_project(B, "Theirs").id
    store.insert_videos(
        [new_video(project_id=ads), new_video(project_id=ads), new_video(project_id=trips), new_video()]
    )
    put(store, S.COMPLETED, project_id=ads)  # every state counts
    store.insert_videos([new_video(B, project_id=theirs)])
    counts = store.project_video_counts(A)
    assert counts == {ads: 3, trips: 1}
    assert empty not in counts
    assert store.project_video_counts(B) == {theirs: 1}
    assert store.project_video_counts(str(uuid.uuid4())) == {}


@pytest.mark.parametrize("whose", ["another user's", "a missing", "a made-up"])
def test_videos_cannot_be_filed_under_another_users_or_a_missing_project(store, whose):
    project_id = {
        "another user's": store.create_project(B, "Theirs").id,
        "a missing": str(uuid.uuid4()),
        "a made-up": "no-such-project",
    }[whose]
    mine = store.create_project(A, "Mine").id
    with pytest.raises(ProjectError) as caught:
        store.insert_videos([new_video(project_id=mine), new_video(project_id=project_id), new_video()])
    assert str(caught.value) == f"Project {project_id} does not exist (it may have been deleted)."
    assert store.count_videos(A) == 0  # nothing of the batch was recorded
    assert store.count_videos(B) == 0
    assert store.project_video_counts(A) == {}
