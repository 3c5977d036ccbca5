"""AliasedStore: lets the SQLite store behaviour tests (tests/unit/test_sqlite_store.py) run unchanged
against the Supabase store.

Those tests name videos "v1", batches "b-1" and users "user-1"/"user-2"; PostgreSQL keeps them in
uuid columns, and users must exist in auth.users. The proxy turns such names into UUIDs on the way
in (the two users into the harness database's USER_A and USER_B, everything else through uuid5) and
back on the way out, so the tests' literal assertions hold. Project ids pass through untouched: the
store makes real ones, and a made-up one ("no-such-project") must reach the store as it is.

Two adaptations, both because the migration is stricter than SQLite:
- completing a video without a `storage_path` breaks the migration's check (a completed video
  always has a file), so the proxy supplies `<user>/<video>.mp4` when a test leaves it out;
- `lease_of(store.path, id)` reads SQLite directly; `store.path` is the proxy itself here and the
  replacement `lease_of` (patched in by the test module) asks PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from mimio_core.domain import Project, QueueShare, TrackedVideo, VideoStatus
from mimio_core.store.base import WHOLE_QUEUE, NewVideo, Usage, VideoFilter
from mimio_core.store.supabase import SupabaseStore

NAMESPACE = uuid.UUID("6f0c6f1e-58e4-4d0b-9a53-6b3d2c1e7a10")


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class AliasedStore:
    def __init__(self, store: SupabaseStore, db: psycopg.Connection, users: dict[str, str]) -> None:
        self.store, self.db = store, db
        self._to_uuid = dict(users)
        self._to_name = {value: name for name, value in users.items()}

    def sibling(self, store: SupabaseStore) -> AliasedStore:
        """Another store (another client) that knows the same names."""
        other = AliasedStore(store, self.db, {})
        other._to_uuid, other._to_name = self._to_uuid, self._to_name
        return other

    @property
    def path(self) -> AliasedStore:
        return self

    # names <-> UUIDs
    def uuid(self, name: str | None) -> str | None:
        if name is None or is_uuid(name):
            return name
        if name not in self._to_uuid:
            self._to_uuid[name] = str(uuid.uuid5(NAMESPACE, name))
            self._to_name[self._to_uuid[name]] = name
        return self._to_uuid[name]

    def name(self, value: str | None) -> str | None:
        return self._to_name.get(value, value) if value is not None else None

    def _key(self, key: str | None, translate: Callable[[str], str | None]) -> str | None:
        """A file key with its leading user folder translated (`user-1/references/...`)."""
        if key is None:
            return None
        folder, _, rest = key.partition("/")
        return f"{translate(folder)}/{rest}"

    def _video(self, video: TrackedVideo | None) -> Any:
        if video is None:
            return None
        return dataclasses.replace(
            video,
            id=self.name(video.id),
            user_id=self.name(video.user_id),
            batch_id=self.name(video.batch_id),
            reference_path=self._key(video.reference_path, self.name),
        )

    def _videos(self, videos: list[TrackedVideo]) -> list[TrackedVideo]:
        return [self._video(video) for video in videos]

    def _project(self, project: Project) -> Project:
        return dataclasses.replace(project, user_id=self.name(project.user_id))

    def lease_of(self, video_id: str) -> tuple[str | None, Any]:
        row = self.db.execute(
            "SELECT lease_owner, lease_expires_at FROM public.videos WHERE id = %s", [self.uuid(video_id)]
        ).fetchone()
        return row[0], row[1]

    # the VideoStore methods the behaviour tests call
    def insert_videos(self, videos: list[NewVideo]) -> list[TrackedVideo]:
        translated = [
            dataclasses.replace(
                video,
                id=self.uuid(video.id),
                user_id=self.uuid(video.user_id),
                batch_id=self.uuid(video.batch_id),
                reference_path=self._key(video.reference_path, self.uuid),
            )
            for video in videos
        ]
        return self._videos(self.store.insert_videos(translated))

    def get_video(self, video_id: str) -> TrackedVideo | None:
        return self._video(self.store.get_video(self.uuid(video_id)))

    def get_videos(self, video_ids: list[str]) -> list[TrackedVideo]:
        return self._videos(self.store.get_videos([self.uuid(v) for v in video_ids]))

    def delete_video(self, video_id: str) -> None:
        self.store.delete_video(self.uuid(video_id))

    def list_videos(
        self, user_id: str, where: VideoFilter = VideoFilter(), **page: int
    ) -> list[TrackedVideo]:
        return self._videos(self.store.list_videos(self.uuid(user_id), where, **page))

    def count_videos(self, user_id: str, where: VideoFilter = VideoFilter()) -> int:
        return self.store.count_videos(self.uuid(user_id), where)

    def claim_queued(
        self, owner: str, capacity: int, lease_seconds: float, share: QueueShare = WHOLE_QUEUE
    ) -> list[TrackedVideo]:
        return self._videos(self.store.claim_queued(owner, capacity, lease_seconds, share))

    def hold_leases(self, owner: str, lease_seconds: float) -> list[TrackedVideo]:
        return self._videos(self.store.hold_leases(owner, lease_seconds))

    def transition(
        self, video_id: str, current: VideoStatus, new: VideoStatus, owner: str | None = None, **fields: Any
    ) -> TrackedVideo | None:
        if new is VideoStatus.COMPLETED and "storage_path" not in fields:
            video = self.store.get_video(self.uuid(video_id))
            fields["storage_path"] = f"{video.user_id if video else 'nobody'}/{self.uuid(video_id)}.mp4"
        return self._video(self.store.transition(self.uuid(video_id), current, new, owner, **fields))

    def update_progress(
        self, video_id: str, owner: str, progress: int, external_video_id: str | None, note: str | None = None
    ) -> bool:
        return self.store.update_progress(self.uuid(video_id), owner, progress, external_video_id, note)

    def create_project(self, user_id: str, name: str, description: str = "") -> Project:
        return self._project(self.store.create_project(self.uuid(user_id), name, description))

    def get_project(self, user_id: str, project_id: str) -> Project | None:
        project = self.store.get_project(self.uuid(user_id), project_id)
        return None if project is None else self._project(project)

    def list_projects(self, user_id: str) -> list[Project]:
        return [self._project(p) for p in self.store.list_projects(self.uuid(user_id))]

    def usage(self, user_id: str) -> list[Usage]:
        return self.store.usage(self.uuid(user_id))

    def close(self) -> None:
        self.store.close()
