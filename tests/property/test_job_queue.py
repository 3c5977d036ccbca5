"""The video lifecycle as a state machine: random sequences of the engine's typed queue operations and
people's requests, through two SQLite stores on one file (as two engines share one database), checked
after every step against what each operation promises and against the lifecycle table.

Each rule computes what must happen from the rows as they are before it runs (read on a connection of
its own) and then asserts the exact rows after it: the moved video with exactly the columns its
operation writes, every other row untouched. An operation from a state it does not lead from, or by an
engine that does not hold the video, must answer None (False) and change nothing at all. After every
step, each change of state since the last must be one the table allows, a completed video never
changes (but for a person's request on it), and progress never goes down while a video keeps its
provider job (requeue and started begin a new one at 0).

`pytest --hypothesis-show-statistics` shows how often each move was made and refused.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import Phase, event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mimio_core.domain import (
    ACTIVE_STATES,
    FINAL_STATES,
    FailureKind,
    QueueShare,
    TrackedVideo,
    UserRequest,
    VideoStatus,
)
from mimio_core.status import TRANSITIONS
from mimio_core.store.base import DELETING, GONE, WHOLE_QUEUE, NewVideo, RequestRefused
from mimio_core.store.sqlite import SQLiteStore
from tests.property.common import examples

S = VideoStatus
Row = dict[str, Any]
LEASE = 30.0
USERS = ("user-a", "user-b")
OWNERS = ("engine-a", "engine-b")
MODELS = ("m1", "m2", "m3")
SHARES = (WHOLE_QUEUE, QueueShare(frozenset({"m1"})), QueueShare(frozenset({"m1"}), exclude=True))
ACTIVE = {str(state) for state in ACTIVE_STATES}
FINAL = {str(state) for state in FINAL_STATES}
MAX_VIDEOS = 8
START = 1_800_000_000  # whole seconds: every timestamp round-trips exactly through datetime and REAL
# what each request leaves unchanged on a completed video: everything but the request and its time
REQUEST_COLUMNS = {"requested_action", "requested_at", "updated_at"}


class Clock:
    """The stores' clock, turned one second per step: every write of a step carries that second, so a
    write that should not have happened shows in updated_at."""

    def __init__(self) -> None:
        self.now = float(START)

    def __call__(self) -> float:
        return self.now


def as_row(video: TrackedVideo) -> dict[str, Any]:
    """The fields of a TrackedVideo that the rows name alike, for comparing an answer with its row."""
    return {
        "id": video.id,
        "status": str(video.status),
        "progress": video.progress,
        "external_video_id": video.external_video_id,
        "requested_action": None if video.requested is None else str(video.requested),
        "updated_at": video.updated_at.timestamp(),
    }


def fair_turns(rows: list[dict[str, Any]], now: float) -> list[str]:
    """The order a claim takes the waiting ones of these rows in, worked out independently of the
    store's SQL (an oracle for it)."""

    def run(row: dict[str, Any]) -> str:
        return row["batch_id"] or row["id"]

    at_work = [row for row in rows if row["status"] in ACTIVE]
    waiting = [
        row
        for row in rows
        if row["status"] == "queued"
        and row["paused_at"] is None
        and row["requested_action"] in (None, "retry")
        and (row["not_before"] is None or row["not_before"] <= now)
    ]
    own_order = sorted(waiting, key=lambda r: (-r["priority"], r["queue_order"], r["id"]))
    run_turn: dict[str, int] = {}
    for row in own_order:  # in each user's own order: the rank within its run, after those at work
        key = (row["user_id"], run(row))
        ahead = sum(1 for r in own_order if r["id"] in run_turn and (r["user_id"], run(r)) == key)
        held = sum(1 for r in at_work if (r["user_id"], run(r)) == key)
        run_turn[row["id"]] = ahead + 1 + held
    user_turn: dict[str, int] = {}
    for user in {row["user_id"] for row in waiting}:
        theirs = sorted(
            (r for r in waiting if r["user_id"] == user),
            key=lambda r: (-r["priority"], run_turn[r["id"]], r["queue_order"], r["id"]),
        )
        held = sum(1 for r in at_work if r["user_id"] == user)
        for rank, row in enumerate(theirs, start=1):
            user_turn[row["id"]] = rank + held
    return [r["id"] for r in sorted(waiting, key=lambda r: (user_turn[r["id"]], r["queue_order"], r["id"]))]


class JobQueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="mimio-property-queue-"))
        path = self.folder / "mimio.sqlite3"
        self.clock = Clock()
        self.stores = [SQLiteStore(path, self.clock), SQLiteStore(path, self.clock)]
        for store in self.stores:  # no fsync per commit: durability is not what this checks, speed is
            store._db.execute("PRAGMA synchronous=OFF")
        self.raw = sqlite3.connect(path, isolation_level=None)
        self.raw.row_factory = sqlite3.Row
        self.serial = 0
        self.ids: list[str] = []  # every id recorded, removed ones too
        self.seen: dict[str, Row] = {}  # the rows after the last step, for the invariants

    def teardown(self) -> None:
        for store in self.stores:
            store.close()
        self.raw.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- helpers ----------------------------------------------------------------------------------

    @property
    def next(self) -> float:
        """The second the next step's writes carry (`step` turns the clock to it)."""
        return self.clock.now + 1

    def rows(self) -> dict[str, Row]:
        return {row["id"]: dict(row) for row in self.raw.execute("SELECT * FROM videos ORDER BY id")}

    def step(self) -> tuple[float, dict[str, Row]]:
        """Turn the clock and read the rows before an operation."""
        self.clock.now += 1
        return self.clock.now, self.rows()

    def unchanged(self, before: dict[str, Row], but: str | None = None) -> dict[str, Row]:
        """The rows now; every one but `but` is as it was."""
        after = self.rows()
        assert {k: v for k, v in after.items() if k != but} == {k: v for k, v in before.items() if k != but}
        return after

    def pick(self, data: st.DataObject, states: set[S] | None = None) -> str:
        """A video for the next operation: mostly one in a state the operation leads from (random
        picks would seldom get a video far along its life), sometimes any id ever recorded (removed
        ones too), so refusals are tried as well."""
        rows = self.rows()
        fitting = sorted(i for i, r in rows.items() if states is None or S(r["status"]) in states)
        if fitting and data.draw(st.integers(0, 3), label="fitting") > 0:
            return data.draw(st.sampled_from(fitting), label="video")
        return data.draw(st.sampled_from(self.ids), label="video")

    def holder(self, data: st.DataObject, video_id: str) -> str:
        """Mostly the engine holding the video; sometimes any engine."""
        row = self.rows().get(video_id)
        if (
            row is not None
            and row["lease_owner"] is not None
            and data.draw(st.integers(0, 3), label="holder")
        ):
            return str(row["lease_owner"])
        return data.draw(st.sampled_from(OWNERS), label="owner")

    def held_move(
        self, data: st.DataObject, sources: set[S], call: Any, target: S, values: dict[str, Any]
    ) -> None:
        """A move by the engine holding the video (`call(store, video, owner)`)."""
        video = self.pick(data, sources)
        owner = self.holder(data, video)
        store = data.draw(st.integers(0, 1), label="store")
        self.move(video, store, lambda s: call(s, video, owner), sources, target, owner, values)

    def move(
        self,
        video_id: str,
        store: int,
        call: Any,
        sources: set[S],
        target: S,
        owner: str | None,
        values: dict[str, Any],
    ) -> None:
        """Run one typed move and check it against what `_move` promises: from `sources` (held by
        `owner`) to `target` writing `values`, the provider's note and failure kind cleared, the lease
        dropped when it ends the engine's work; from anywhere else: None, and nothing written."""
        now, before = self.step()
        row = before.get(video_id)
        allowed = (
            row is not None
            and row["status"] in {str(s) for s in sources}
            and (owner is None or row["lease_owner"] == owner)
        )
        answer = call(self.stores[store])
        event(f"{target} {'moved' if allowed else 'refused'}")
        if not allowed:
            assert answer is None
            self.unchanged(before)
            return
        assert row is not None
        expected = {
            **row,
            "status_note": None,
            "failure_kind": None,
            **values,
            "status": str(target),
            "updated_at": now,
        }
        if target.is_final or target is S.QUEUED:
            expected["lease_owner"] = expected["lease_expires_at"] = None
        after = self.unchanged(before, but=video_id)
        assert after[video_id] == expected
        assert isinstance(answer, TrackedVideo) and answer == self.stores[store].get_video(video_id)

    # --- recording videos -------------------------------------------------------------------------

    @initialize()
    def first_videos(self) -> None:
        self.insert_videos(2, "m1", USERS[0], 0)

    @precondition(lambda self: len(self.seen) < MAX_VIDEOS)
    @rule(
        count=st.integers(1, 3),
        model=st.sampled_from(MODELS),
        user=st.sampled_from(USERS),
        store=st.integers(0, 1),
    )
    def insert(self, count: int, model: str, user: str, store: int) -> None:
        self.insert_videos(count, model, user, store)

    def insert_videos(self, count: int, model: str, user: str, store: int) -> None:
        _, before = self.step()
        ids = [f"video-{self.serial + n:03d}" for n in range(1, count + 1)]
        self.serial += count
        news = [
            NewVideo(
                id=i, user_id=user, title=i, prompt=f"prompt {i}", model=model, size="720x1280", seconds=4
            )
            for i in ids
        ]
        recorded = self.stores[store].insert_videos(news)
        assert [v.id for v in recorded] == ids
        assert all(
            (v.status, v.progress, v.requested, v.external_video_id) == (S.QUEUED, 0, None, None)
            for v in recorded
        )
        after = self.rows()
        assert {k: v for k, v in after.items() if k not in ids} == before
        created = [after[i]["created_at"] for i in ids]
        assert created == sorted(created) and len(set(created)) == count  # submission order is kept
        self.ids += ids

    @rule(data=st.data(), same_user=st.booleans(), store=st.integers(0, 1))
    def submit_again(self, data: st.DataObject, same_user: bool, store: int) -> None:
        """A repeated submission (a double click, a retried call) of an id recorded before."""
        video = self.pick(data)
        _, before = self.step()
        row = before.get(video)
        user = USERS[0] if row is None else (row["user_id"] if same_user else "someone-else")
        again = NewVideo(
            id=video, user_id=user, title="again", prompt="again", model="m1", size="720x1280", seconds=4
        )
        recorded = self.stores[store].insert_videos([again])
        if row is None:  # removed meanwhile: recorded anew
            assert [(v.id, v.status) for v in recorded] == [(video, S.QUEUED)]
            self.unchanged(before, but=video)
            return
        self.unchanged(before)
        assert [v.id for v in recorded] == ([video] if same_user else [])

    # --- the engine's operations ------------------------------------------------------------------

    @rule(
        owner=st.sampled_from(OWNERS),
        capacity=st.integers(0, 4),
        share=st.sampled_from(SHARES),
        store=st.integers(0, 1),
    )
    def claim(self, owner: str, capacity: int, share: QueueShare, store: int) -> None:
        """The share's queued videos (not paused, scheduled later, or asked to cancel or delete) in
        fair turns while fewer than `capacity` of the share are active, whichever engine holds them:
        every user's next video before anyone's after it, and each user's runs taking turns, the
        videos at work counted as turns taken; each user's own order (priority, then place) within."""
        now, before = self.step()
        mine = [row for row in before.values() if share.holds(row["model"])]
        free = capacity - sum(row["status"] in ACTIVE for row in mine)
        expected = fair_turns(mine, now)[: max(0, free)]
        claimed = self.stores[store].claim(owner, capacity, LEASE, share)
        assert [v.id for v in claimed] == expected
        after = self.rows()
        for video_id, row in before.items():
            if video_id not in expected:
                assert after[video_id] == row
                continue
            assert after[video_id] == {
                **row,
                "status": "claimed",
                "progress": 0,
                "error": None,
                "failure_kind": None,
                "external_video_id": None,
                "create_started_at": None,
                "status_note": None,
                "started_at": now,
                "updated_at": now,
                "lease_owner": owner,
                "lease_expires_at": now + LEASE,
            }
        assert [as_row(v) for v in claimed] == [{k: after[v.id][k] for k in as_row(v)} for v in claimed]

    @rule(owner=st.sampled_from(OWNERS), store=st.integers(0, 1))
    def heartbeat(self, owner: str, store: int) -> None:
        """Renew this engine's leases, take over what nobody holds or whose lease ran out."""
        now, before = self.step()
        held = self.stores[store].heartbeat(owner, LEASE)
        expected = {}
        for video_id, row in before.items():
            takes = row["status"] in ACTIVE and (
                row["lease_owner"] in (owner, None) or row["lease_expires_at"] < now
            )
            expected[video_id] = (
                {**row, "lease_owner": owner, "lease_expires_at": now + LEASE} if takes else row
            )
        after = self.rows()
        assert after == expected
        mine = sorted(
            (r for r in after.values() if r["status"] in ACTIVE and r["lease_owner"] == owner),
            key=lambda r: r["created_at"],
        )
        assert [v.id for v in held] == [r["id"] for r in mine]

    @rule(data=st.data(), steps=st.integers(1, 8))
    def engine_a_works(self, data: st.DataObject, steps: int) -> None:
        self.engine_works(data, "engine-a", steps)

    @rule(data=st.data(), steps=st.integers(1, 8))
    def engine_b_works(self, data: st.DataObject, steps: int) -> None:
        self.engine_works(data, "engine-b", steps)

    def engine_works(self, data: st.DataObject, owner: str, steps: int) -> None:
        """A few steps an engine takes with its own and queued videos, each through the same checked
        operations and checked against the lifecycle: random operations alone seldom bring a video
        far along its life."""
        for _ in range(steps):
            rows = self.rows()
            workable = sorted(
                i for i, r in rows.items() if r["lease_owner"] in (owner, None) and r["status"] != "completed"
            )
            if not workable:
                return
            video = data.draw(st.sampled_from(workable), label="video")
            row = rows[video]
            status = S(row["status"])
            if status is S.QUEUED:  # a share holding just its model, room for every video
                self.claim(owner, MAX_VIDEOS + 3, QueueShare(frozenset({row["model"]})), 0)
            elif status.is_active and row["lease_owner"] is None:  # nobody's: taken over
                self.heartbeat(owner, 1)
            elif status is S.GENERATING and data.draw(st.booleans(), label="poll"):
                self.progress(data, data.draw(st.integers(0, 100), label="progress"), "Rendering.")
            else:
                {
                    S.CLAIMED: self.creating,
                    S.CREATING: self.started,
                    S.GENERATING: self.transferring,
                    S.TRANSFERRING: self.completed,
                    S.FAILED: self.requeue,
                    S.CANCELLED: self.requeue,
                }[status](data)
            self.the_lifecycle_holds()

    @rule(data=st.data())
    def creating(self, data: st.DataObject) -> None:
        self.held_move(
            data, {S.CLAIMED}, lambda s, v, o: s.creating(v, o), S.CREATING, {"create_started_at": self.next}
        )

    @rule(data=st.data())
    def not_started(self, data: st.DataObject) -> None:
        note = "Not started yet (busy); trying again in 2 s."
        self.held_move(
            data,
            {S.CREATING},
            lambda s, v, o: s.not_started(v, o, note),
            S.CLAIMED,
            {"create_started_at": None, "status_note": note},
        )

    @rule(data=st.data())
    def started(self, data: st.DataObject) -> None:
        job = f"job-{self.next:.0f}"
        self.held_move(
            data,
            {S.CREATING},
            lambda s, v, o: s.started(v, o, job),
            S.GENERATING,
            {"external_video_id": job, "progress": 0},
        )

    @rule(data=st.data(), value=st.integers(-10, 120), note=st.sampled_from([None, "Rendering."]))
    def progress(self, data: st.DataObject, value: int, note: str | None) -> None:
        """Saved for an active video this engine holds, never lower, clamped to 0-100."""
        video = self.pick(data, set(ACTIVE_STATES))
        owner = self.holder(data, video)
        store = data.draw(st.integers(0, 1), label="store")
        now, before = self.step()
        row = before.get(video)
        allowed = row is not None and row["status"] in ACTIVE and row["lease_owner"] == owner
        answer = self.stores[store].progress(video, owner, value, note)
        assert answer is allowed
        if not allowed:
            self.unchanged(before)
            return
        assert row is not None
        after = self.unchanged(before, but=video)
        saved = max(row["progress"], max(0, min(100, value)))
        assert after[video] == {**row, "progress": saved, "status_note": note, "updated_at": now}

    @rule(data=st.data())
    def transferring(self, data: st.DataObject) -> None:
        self.held_move(data, {S.GENERATING}, lambda s, v, o: s.transferring(v, o), S.TRANSFERRING, {})

    @rule(data=st.data(), thumbnail=st.booleans())
    def completed(self, data: st.DataObject, thumbnail: bool = True) -> None:
        def complete(store: SQLiteStore, video: str, owner: str) -> TrackedVideo | None:
            return store.completed(video, owner, f"u/{video}.mp4", f"u/{video}.jpg" if thumbnail else None)

        def written(video: str) -> dict[str, Any]:
            thumb = f"u/{video}.jpg" if thumbnail else None
            return {
                "storage_path": f"u/{video}.mp4",
                "thumbnail_path": thumb,
                "completed_at": self.next,
                "progress": 100,
            }

        video = self.pick(data, {S.TRANSFERRING})
        owner = self.holder(data, video)
        store = data.draw(st.integers(0, 1), label="store")
        values = written(video)
        self.move(
            video, store, lambda s: complete(s, video, owner), {S.TRANSFERRING}, S.COMPLETED, owner, values
        )

    @rule(data=st.data(), kind=st.sampled_from(list(FailureKind)))
    def failed(self, data: st.DataObject, kind: FailureKind) -> None:
        message = f"It failed ({kind})."
        self.held_move(
            data,
            set(ACTIVE_STATES),
            lambda s, v, o: s.failed(v, o, kind, message),
            S.FAILED,
            {"failure_kind": str(kind), "error": message},
        )

    @rule(data=st.data(), store=st.integers(0, 1))
    def cancelled(self, data: st.DataObject, store: int) -> None:
        sources = {S.QUEUED, *ACTIVE_STATES}
        video = self.pick(data, sources)
        self.move(
            video,
            store,
            lambda s: s.cancelled(video, "Cancelled."),
            sources,
            S.CANCELLED,
            None,
            {"error": "Cancelled."},
        )

    @rule(data=st.data(), store=st.integers(0, 1))
    def requeue(self, data: st.DataObject, store: int = 0) -> None:
        video = self.pick(data, {S.FAILED, S.CANCELLED})
        values = {"error": None, "failure_kind": None, "progress": 0}
        self.move(video, store, lambda s: s.requeue(video), {S.FAILED, S.CANCELLED}, S.QUEUED, None, values)

    @rule(data=st.data(), store=st.integers(0, 1))
    def recover(self, data: st.DataObject, store: int) -> None:
        video = self.pick(data, {S.FAILED})
        values = {"error": None, "failure_kind": None, "started_at": self.next}
        self.move(video, store, lambda s: s.recover(video), {S.FAILED}, S.GENERATING, None, values)

    @rule(owner=st.sampled_from(OWNERS), store=st.integers(0, 1))
    def release(self, owner: str, store: int) -> None:
        """An engine known to be dead: its leases go, nothing else changes."""
        _, before = self.step()
        count = self.stores[store].release(owner)
        assert self.rows() == {
            k: {**r, "lease_owner": None, "lease_expires_at": None} if r["lease_owner"] == owner else r
            for k, r in before.items()
        }
        assert count == sum(r["lease_owner"] == owner for r in before.values())

    @rule(seconds=st.sampled_from([5, 29, 31, 60]))
    def time_passes(self, seconds: int) -> None:
        self.clock.now += seconds

    # --- people's requests ------------------------------------------------------------------------

    @rule(
        data=st.data(), request=st.sampled_from(list(UserRequest)), own=st.booleans(), store=st.integers(0, 1)
    )
    def ask(
        self, data: st.DataObject, request: UserRequest = UserRequest.DELETE, own: bool = True, store: int = 0
    ) -> None:
        """Recorded on the person's own video when it can apply, else refused saying why."""
        video = self.pick(data)
        now, before = self.step()
        row = before.get(video)
        user = (row["user_id"] if row else USERS[0]) if own else "someone-else"
        refusal = None
        if row is None or row["user_id"] != user:
            refusal = GONE
        elif row["requested_action"] == "delete":
            refusal = DELETING
        elif request is UserRequest.RETRY and row["status"] not in ("failed", "cancelled"):
            refusal = f"Only a failed or cancelled video can be retried; this one is {row['status']}."
        elif request is UserRequest.CANCEL and row["status"] in FINAL:
            refusal = f"This video is {row['status']} already: there is nothing to cancel."
        try:
            asked = self.stores[store].ask(user, video, request)
        except RequestRefused as refused:
            assert str(refused) == refusal
            self.unchanged(before)
            return
        assert refusal is None and row is not None
        after = self.unchanged(before, but=video)
        same = row["requested_action"] == str(request)  # asked again: the first time stays
        assert after[video] == {
            **row,
            "requested_action": str(request),
            "requested_at": row["requested_at"] if same else now,
            "updated_at": now,
        }
        assert asked == self.stores[store].get_video(video)

    @rule(data=st.data(), request=st.sampled_from(list(UserRequest)), store=st.integers(0, 1))
    def clear_request(self, data: st.DataObject, request: UserRequest, store: int) -> None:
        """Dropped only where it is still the video's request."""
        video = self.pick(data)
        now, before = self.step()
        row = before.get(video)
        matches = row is not None and row["requested_action"] == str(request)
        assert self.stores[store].clear_request(video, request) is matches
        if not matches:
            self.unchanged(before)
            return
        assert row is not None
        after = self.unchanged(before, but=video)
        assert after[video] == {**row, "requested_action": None, "requested_at": None, "updated_at": now}

    @rule(owner=st.sampled_from(OWNERS), limit=st.integers(1, 4), store=st.integers(0, 1))
    def requested(self, owner: str, limit: int, store: int) -> None:
        """What this engine may carry out now: not active, or held by it or by nobody alive; oldest
        request first."""
        now, before = self.step()
        may_act = sorted(
            (
                r
                for r in before.values()
                if r["requested_action"] is not None
                and (
                    r["status"] not in ACTIVE
                    or r["lease_owner"] in (owner, None)
                    or r["lease_expires_at"] < now
                )
            ),
            key=lambda r: (r["requested_at"], r["id"]),
        )
        found = self.stores[store].requested(owner, limit)
        assert [v.id for v in found] == [r["id"] for r in may_act[:limit]]
        self.unchanged(before)

    @rule(data=st.data(), store=st.integers(0, 1))
    def remove(self, data: st.DataObject, store: int) -> None:
        video = self.pick(data)
        _, before = self.step()
        assert self.stores[store].remove(video) is (video in before)
        assert self.rows() == {k: v for k, v in before.items() if k != video}

    # --- after every step -------------------------------------------------------------------------

    @invariant()
    def the_lifecycle_holds(self) -> None:
        now = self.rows()
        for video_id, row in now.items():
            status = S(row["status"])
            assert (status is S.FAILED) == (row["failure_kind"] is not None), row
            assert 0 <= row["progress"] <= 100
            if status is S.QUEUED or status.is_final:  # nobody's work: no engine holds it
                assert (row["lease_owner"], row["lease_expires_at"]) == (None, None), row
            if status is S.QUEUED:
                assert row["progress"] == 0, row
            if status is S.COMPLETED:
                assert row["storage_path"] and row["progress"] == 100 and row["completed_at"], row
            old = self.seen.get(video_id)
            if old is None:  # recorded since the last step: always queued
                assert status is S.QUEUED, row
                continue
            was = S(old["status"])
            if was is not status:
                assert status in TRANSITIONS[was], f"{video_id}: {was} -> {status} is not in the table"
            if was is S.COMPLETED:  # final for good: only a person's request may be written on it
                assert {k: v for k, v in row.items() if k not in REQUEST_COLUMNS} == {
                    k: v for k, v in old.items() if k not in REQUEST_COLUMNS
                }
            # progress is the provider job's: it starts again only for a new generation (queued) or a
            # new job (started: creating -> generating); otherwise it never goes down
            new_job = status is S.QUEUED or (was is S.CREATING and status is S.GENERATING)
            if not new_job:
                assert row["progress"] >= old["progress"], (
                    video_id,
                    was,
                    status,
                    old["progress"],
                    row["progress"],
                )
        self.seen = now


# Shrinking a failing run of this machine can take Hypothesis's full five minutes, past the suite's
# 120 s timeout: a failure shows the steps as generated (at most 50) unless MIMIO_PROPERTY_SHRINK=1.
SHRINK = os.environ.get("MIMIO_PROPERTY_SHRINK") == "1"
JobQueueMachine.TestCase.settings = examples(
    80,
    stateful_step_count=50,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink, Phase.explain] if SHRINK else [])],
)
TestJobQueue = JobQueueMachine.TestCase
