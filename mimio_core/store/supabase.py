"""The Supabase backend: records through PostgREST (supabase-py's table and rpc builders) and files
in a private Storage bucket.

Why it is built this way:
- A signed-in user's client carries their JWT, so Row Level Security scopes every read and write to
  their rows; the engine's client uses the service role, because it must finish a user's video after
  their tab has closed. The store works with either and sends `user_id` only where the role may
  write it (see `_owner_fields`).
- The engine's read-then-write steps (claim under a capacity, take over expired leases, progress that
  never goes backwards) are SQL functions of the migration, one atomic call each. A status change is
  a conditional PATCH on `id`, `status` (and `lease_owner`): an empty representation means another
  engine or a cancel got there first.
- Ids are UUIDs in PostgreSQL. A value that is not one (a hand-edited link, say) cannot name a row,
  so it is answered without a request instead of failing with a type error.
- Files are addressed by object path (`<user_id>/<video_id>.mp4`); playback and reading go through
  short-lived signed URLs, streamed, because `download()` would hold a whole video in memory.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from postgrest import APIError
from postgrest.types import CountMethod, ReturnMethod
from supabase import Client, ClientOptions, create_client

from mimio_core.domain import EngineBeat, Project, QueueShare, TrackedVideo, UserRequest, VideoStatus
from mimio_core.store.base import (
    GONE,
    NewVideo,
    ProjectError,
    StorageError,
    Usage,
    Values,
    VideoFilter,
    VideoStore,
    project_from_row,
    project_name,
    video_from_row,
)
from mimio_core.store.queue_control import (
    ALL_PROJECTS,
    NEEDS_EDIT,
    Asked,
    Move,
    Place,
    QueueRefused,
    VideoEdit,
    moved_places,
    not_waiting,
)
from mimio_core.tokens import unverified_claims

S = VideoStatus
MAX_PROJECT_DESCRIPTION = 500  # the migration's check on projects.description
IDS_PER_REQUEST = 100  # keeps `in.(...)` filters well inside URL length limits
ROWS_PER_PAGE = 1000  # Supabase's default PostgREST max-rows
TAKEN, MISSING_KEY = "23505", "23503"  # SQLSTATEs: unique violation, foreign key violation
# a column or function this version needs is not there (PostgreSQL's and PostgREST's schema cache codes)
SCHEMA_MISSING = frozenset({"42703", "42883", "PGRST202", "PGRST204"})
NOT_MIGRATED = (
    "This Supabase project lacks a migration of this version of Mimio: apply every file of "
    "supabase/migrations/ (README, Upgrading), then restart."
)


class SupabaseError(StorageError):
    """A Supabase request failed; the message says which step and why."""


def supabase_client(url: str, key: str, http: httpx.Client, *, retry: bool = True) -> Client:
    """A client whose PostgREST, Storage and Auth calls all go through `http` (set timeouts there).

    Always a NEW `ClientOptions`: two clients sharing one share its session store, and one browser
    session would then see another's sign-in. No token refresh thread (a server refreshes per rerun
    through `auth.get_session()`). `retry=False` stops PostgREST GETs retrying 503s with 1+2+4 s
    sleeps, which tests want.
    """
    options = ClientOptions(httpx_client=http, auto_refresh_token=False, postgrest_client_retry=retry)
    return create_client(url, key, options)


# --- rows --------------------------------------------------------------------------------------------


def _time(value: str | None) -> datetime | None:
    """PostgREST's ISO timestamps as aware UTC datetimes."""
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def _video(row: dict[str, Any]) -> TrackedVideo:
    return video_from_row(row, _time)


def _project(row: dict[str, Any]) -> Project:
    return project_from_row(row, _time)


def _canonical(value: str | None) -> str | None:
    """The id as PostgreSQL writes a uuid (lowercase, hyphens), or None when it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _is_uuid(value: str | None) -> bool:
    return _canonical(value) is not None


def _same(one: str | None, other: str | None) -> bool:
    """Two ids name the same row (uuids compare whatever their case)."""
    return _canonical(one) == _canonical(other) if _is_uuid(one) else one == other


def _chunks(values: list[str], size: int = IDS_PER_REQUEST) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def search_condition(search: str) -> str:
    """The PostgREST `or=` condition "title or prompt contains `search`", with `search` as text.

    LIKE's `\\`, `%` and `_` are escaped. PostgREST reads every `*` in a like pattern as `%` and has
    no escape for it, so a `*` becomes `_` (any one character): the only way to keep it from
    matching any run of text. The pattern is then double-quoted, `\\` and `"` backslash-escaped, so
    `,`, `.`, `:` and parentheses in it stay text instead of ending the condition.
    """
    like = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "_")
    quoted = '"' + f"*{like}*".replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"title.ilike.{quoted},prompt.ilike.{quoted}"


def _claims(client: Client) -> dict[str, Any]:
    """The claims of the bearer token table calls carry, to know whether a signed-in user is acting."""
    return unverified_claims(client.postgrest.headers.get("authorization", "").removeprefix("Bearer "))


@dataclass(frozen=True)
class _Known:
    """An expected failure (by SQLSTATE) and the exception a person should see instead."""

    code: str
    error: Callable[[APIError], Exception]


def _failure(what: str, error: Exception) -> SupabaseError:
    if isinstance(error, APIError):
        reason = error.message or "no reason given"
        extra = f" ({error.details})" if isinstance(error.details, str) and error.details else ""
        upgrade = f" {NOT_MIGRATED}" if error.code in SCHEMA_MISSING else ""
        return SupabaseError(f"Could not {what}: {reason}{extra} [{error.code}]{upgrade}")
    return SupabaseError(f"Could not {what}: Supabase did not answer ({type(error).__name__}: {error})")


def _execute(what: str, request: Any, *known: _Known) -> Any:
    """Run a built request; APIErrors become `known` exceptions or a SupabaseError naming `what`."""
    try:
        return request.execute()
    except APIError as error:
        for expected in known:
            if error.code == expected.code:
                raise expected.error(error) from error
        raise _failure(what, error) from error
    except httpx.HTTPError as error:
        raise _failure(what, error) from error


def _taken(name: str) -> _Known:
    return _Known(TAKEN, lambda _: ProjectError(f"You already have a project named {name!r}."))


def _description(text: str) -> str:
    """A project description tidied, or `ProjectError`: the migration allows 500 characters."""
    text = text.strip()
    if len(text) > MAX_PROJECT_DESCRIPTION:
        raise ProjectError(f"A project description can have at most {MAX_PROJECT_DESCRIPTION} characters.")
    return text


def _missing_project(project_id: str) -> ProjectError:
    return ProjectError(f"Project {project_id} does not exist (it may have been deleted).")


# --- records -----------------------------------------------------------------------------------------


class SupabaseStore(VideoStore):
    """Video records and projects in the migration's `public.projects` and `public.videos`."""

    def __init__(self, client: Client, before_request: Callable[[], None] | None = None) -> None:
        # never cache client.table()/client.storage: a sign-in or a refresh replaces the sub-clients
        self._raw_client = client
        self._before_request = before_request

    @property
    def _client(self) -> Client:
        """The client, after `before_request` (a signed-in session refreshes a token near expiry
        there: a button's callback or a panel's timer runs without the page's own check first)."""
        if self._before_request is not None:
            self._before_request()
        return self._raw_client

    def _videos(self) -> Any:
        return self._client.table("videos")

    def _projects(self) -> Any:
        return self._client.table("projects")

    def _signed_in_user(self) -> str | None:
        claims = _claims(self._client)
        return claims.get("sub") if claims.get("role") == "authenticated" else None

    def _owner_fields(self, user_id: str) -> dict[str, str]:
        """`user_id` to send with an insert. A signed-in user may not write that column (it defaults
        to auth.uid()), so nothing; the service role must name the owner."""
        signed_in = self._signed_in_user()
        if signed_in is None:
            return {"user_id": user_id}
        if not _same(signed_in, user_id):
            raise PermissionError(f"this client is signed in as {signed_in}, not as user {user_id}")
        return {}

    # projects
    def create_project(self, user_id: str, name: str, description: str = "") -> Project:
        name, description = project_name(name), _description(description)
        row = {**self._owner_fields(user_id), "name": name, "description": description}
        data = _execute("create the project", self._projects().insert(row), _taken(name)).data
        return _project(data[0])

    def list_projects(self, user_id: str) -> list[Project]:
        if not _is_uuid(user_id):
            return []
        request = self._projects().select("*").eq("user_id", user_id)
        projects = [_project(row) for row in _execute("list projects", request).data]
        return sorted(projects, key=lambda project: (project.name.casefold(), project.name))

    def get_project(self, user_id: str, project_id: str) -> Project | None:
        if not (_is_uuid(user_id) and _is_uuid(project_id)):
            return None
        request = self._projects().select("*").eq("id", project_id).eq("user_id", user_id)
        data = _execute("read the project", request).data
        return _project(data[0]) if data else None

    def rename_project(
        self, user_id: str, project_id: str, name: str, description: str | None = None
    ) -> Project:
        name = project_name(name)
        changes = (
            {"name": name}
            if description is None
            else {"name": name, "description": _description(description)}
        )
        data = []
        if _is_uuid(user_id) and _is_uuid(project_id):
            request = self._projects().update(changes).eq("id", project_id).eq("user_id", user_id)
            data = _execute("rename the project", request, _taken(name)).data
        if not data:
            raise ProjectError("That project does not exist (it may have been deleted).")
        return _project(data[0])

    def delete_project(self, user_id: str, project_id: str) -> None:
        if _is_uuid(user_id) and _is_uuid(project_id):
            request = self._projects().delete(returning=ReturnMethod.minimal)
            _execute("delete the project", request.eq("id", project_id).eq("user_id", user_id))

    def project_video_counts(self, user_id: str) -> dict[str, int]:
        signed_in = self._signed_in_user()
        if signed_in is not None:  # the function runs as the caller: RLS keeps it to their videos
            if not _same(signed_in, user_id):
                return {}
            data = _execute("count videos per project", self._client.rpc("project_video_counts")).data
            return {row["project_id"]: row["videos"] for row in data}
        # the service role would count every user's videos: keep to this user's projects
        counts: dict[str, int] = {}
        for ids in _chunks([project.id for project in self.list_projects(user_id)]):
            request = self._client.rpc("project_video_counts").in_("project_id", ids)
            counts |= {row["project_id"]: row["videos"] for row in _execute("count videos", request).data}
        return counts

    # videos
    def insert_videos(self, videos: list[NewVideo]) -> list[TrackedVideo]:
        """One statement, so all or nothing. Ids already recorded are left as they are and, when they
        are this user's, returned (a repeated submission); the representation holds only new rows."""
        if not videos:
            return []
        for video in videos:
            if video.project_id is not None and not _is_uuid(video.project_id):
                raise _missing_project(video.project_id)
        rows = [
            {
                "id": video.id,
                **self._owner_fields(video.user_id),
                "project_id": video.project_id,
                "title": video.title,
                "prompt": video.prompt,
                "model": video.model,
                "size": video.size,
                "duration_seconds": video.seconds,
                "batch_id": video.batch_id,
                "reference_path": video.reference_path,
                "reference_type": video.reference_type,
                "priority": video.priority,
                "not_before": None if video.not_before is None else video.not_before.isoformat(),
            }
            for video in videos
        ]

        def missing(error: APIError) -> Exception:
            details = str(error.details or "")
            if '"projects"' not in details:
                return _failure("record the videos", error)
            named = re.search(r"\(project_id, user_id\)=\(([^,]+),", details)
            fallback = next(video.project_id for video in videos if video.project_id)
            return _missing_project(named.group(1) if named else fallback)

        # ON CONFLICT (id) DO NOTHING: a repeated submission (same ids) records nothing new
        request = self._videos().upsert(rows, ignore_duplicates=True, on_conflict="id")
        data = _execute("record the videos", request, _Known(MISSING_KEY, missing)).data
        by_id = {row["id"]: _video(row) for row in data}
        earlier = [video.id for video in videos if _canonical(video.id) not in by_id]
        owner = videos[0].user_id
        by_id |= {video.id: video for video in self.get_videos(earlier) if _same(video.user_id, owner)}
        return [by_id[key] for key in map(_canonical, (video.id for video in videos)) if key in by_id]

    def get_video(self, video_id: str) -> TrackedVideo | None:
        found = self.get_videos([video_id])
        return found[0] if found else None

    def get_videos(self, video_ids: list[str]) -> list[TrackedVideo]:
        asked = {video_id: _canonical(video_id) for video_id in video_ids}
        by_id: dict[str | None, TrackedVideo] = {}
        for ids in _chunks(sorted({key for key in asked.values() if key is not None})):
            request = self._videos().select("*").in_("id", ids)
            by_id |= {row["id"]: _video(row) for row in _execute("read videos", request).data}
        return [by_id[asked[video_id]] for video_id in video_ids if asked[video_id] in by_id]

    def _filtered(self, request: Any, user_id: str, where: VideoFilter) -> Any:
        # a video its owner asked to delete is gone from their lists at once, before the engine acts
        request = request.eq("user_id", user_id).filter("requested_action", "isdistinct", "delete")
        if where.states is not None:
            request = request.in_("status", sorted(map(str, where.states)))
        if where.project_id is not None:
            request = request.eq("project_id", where.project_id)
        if where.model is not None:
            request = request.eq("model", where.model)
        if where.batch_id is not None:
            request = request.eq("batch_id", where.batch_id)
        if where.search:
            request = request.or_(search_condition(where.search))
        return request

    @staticmethod
    def _answerable(user_id: str, where: VideoFilter) -> bool:
        """False when an id cannot match any row (not a UUID): the answer is empty without asking."""
        ids = (where.project_id, where.batch_id)
        return _is_uuid(user_id) and all(value is None or _is_uuid(value) for value in ids)

    def list_videos(
        self, user_id: str, where: VideoFilter = VideoFilter(), limit: int = 50, offset: int = 0
    ) -> list[TrackedVideo]:
        if limit <= 0 or not self._answerable(user_id, where):
            return []
        request = self._filtered(self._videos().select("*"), user_id, where)
        request = request.order("created_at", desc=True).order("id", desc=True)
        request = request.range(offset, offset + limit - 1)
        return [_video(row) for row in _execute("list videos", request).data]

    def count_videos(self, user_id: str, where: VideoFilter = VideoFilter()) -> int:
        if not self._answerable(user_id, where):
            return 0
        request = self._videos().select("id", count=CountMethod.exact, head=True)
        return int(_execute("count videos", self._filtered(request, user_id, where)).count or 0)

    # the person's side of the queue (RLS: a signed-in user reaches their own rows only)
    def _count(self, what: str, function: str, user_id: str, **arguments: Any) -> int:
        if not _is_uuid(user_id):
            return 0
        answer = _execute(what, self._client.rpc(function, {"p_user_id": user_id, **arguments}))
        return int(answer.data or 0)

    def _each_chunk(self, what: str, function: str, user_id: str, video_ids: list[str]) -> int:
        ids = sorted({key for key in map(_canonical, video_ids) if key is not None})
        return sum(self._count(what, function, user_id, p_ids=chunk) for chunk in _chunks(ids))

    def pause(self, user_id: str, video_ids: list[str]) -> int:
        return self._each_chunk("pause videos", "pause_videos", user_id, video_ids)

    def resume(self, user_id: str, video_ids: list[str]) -> int:
        return self._each_chunk("resume videos", "resume_videos", user_id, video_ids)

    def pause_queue(self, user_id: str, project_id: str | None = ALL_PROJECTS) -> int:
        if project_id is not None and not _is_uuid(project_id):
            raise _missing_project(project_id)
        return self._count("pause the queue", "pause_queue", user_id, p_project_id=project_id)

    def resume_queue(self, user_id: str, project_id: str | None = ALL_PROJECTS) -> int:
        if project_id is not None and not _is_uuid(project_id):
            return 0
        return self._count("resume the queue", "resume_queue", user_id, p_project_id=project_id)

    def paused_queues(self, user_id: str) -> set[str | None]:
        if not _is_uuid(user_id):
            return set()
        request = self._client.table("queue_pauses").select("project_id").eq("user_id", user_id)
        return {row["project_id"] for row in _execute("read paused queues", request).data}

    def _waiting(self, request: Any) -> Any:
        """Only videos that wait: queued, with no cancel or delete asked."""
        return request.eq("status", "queued").or_("requested_action.is.null,requested_action.eq.retry")

    def _owned(self, user_id: str, video_id: str) -> TrackedVideo:
        video = self.get_video(video_id) if _is_uuid(user_id) else None
        if video is None or not _same(video.user_id, user_id):
            raise QueueRefused(GONE)
        return video

    def move(self, user_id: str, video_id: str, move: Move) -> TrackedVideo:
        video = self._owned(user_id, video_id)
        if video.status is not S.QUEUED or video.requested not in (None, UserRequest.RETRY):
            raise QueueRefused(not_waiting(video))
        assert video.queue_order is not None
        here: Place = (video.id, video.priority, video.queue_order)
        other = self._neighbour(user_id, here, move)
        for moved_id, priority, place in moved_places(here, other, move):
            change = self._videos().update({"priority": priority, "queue_order": place}).eq("id", moved_id)
            _execute("move the video", self._waiting(change))
        return self._owned(user_id, video_id)

    def _neighbour(self, user_id: str, here: Place, move: Move) -> Place | None:
        """The first waiting video of the user (NEXT), or the one just before (UP) or after (DOWN)
        `here` in the order they are sent: first among its own priority, then the next priority."""
        _, priority, place = here

        def first(request: Any, earliest: bool) -> Place | None:
            request = request.order("queue_order", desc=not earliest).limit(1)
            rows = _execute("read the queue", request).data
            return (rows[0]["id"], rows[0]["priority"], float(rows[0]["queue_order"])) if rows else None

        def waiting() -> Any:
            return self._waiting(self._videos().select("id, priority, queue_order")).eq("user_id", user_id)

        if move is Move.NEXT:
            return first(waiting().order("priority", desc=True), earliest=True)
        up = move is Move.UP
        same = waiting().eq("priority", priority)
        same = same.lt("queue_order", place) if up else same.gt("queue_order", place)
        beyond = waiting().gt("priority", priority) if up else waiting().lt("priority", priority)
        return first(same, earliest=not up) or first(beyond.order("priority", desc=not up), earliest=not up)

    def edit(self, user_id: str, video_id: str, edit: VideoEdit) -> TrackedVideo:
        video = self._owned(user_id, video_id)
        fields = {"title": edit.title, "prompt": edit.prompt, "model": edit.model, "size": edit.size}
        change = self._videos().update({**fields, "duration_seconds": edit.seconds}).eq("id", video.id)
        if not _execute("edit the video", self._waiting(change.eq("user_id", user_id))).data:
            raise QueueRefused(not_waiting(self._owned(user_id, video_id)))
        return self._owned(user_id, video_id)

    def ask_many(self, user_id: str, video_ids: list[str], request: UserRequest) -> Asked:
        wanted = list(dict.fromkeys(video_ids))
        ids = sorted({key for key in map(_canonical, wanted) if key is not None})
        asked = 0
        for chunk in _chunks(ids) if _is_uuid(user_id) else iter(()):
            change = self._videos().update({"requested_action": str(request)}).in_("id", chunk)
            change = change.eq("user_id", user_id).filter("requested_action", "isdistinct", "delete")
            if request is UserRequest.CANCEL:
                change = change.in_("status", sorted(str(state) for state in S if not state.is_final))
            elif request is UserRequest.RETRY:
                change = change.in_("status", [str(S.FAILED), str(S.CANCELLED)])
                for kind in sorted(NEEDS_EDIT):
                    change = change.filter("failure_kind", "isdistinct", str(kind))
            asked += len(_execute(f"ask to {request} the videos", change.select("id")).data)
        return Asked(asked, len(wanted) - asked)

    def _record_request(self, user_id: str, video_id: str, request: UserRequest) -> TrackedVideo | None:
        if not (_is_uuid(user_id) and _is_uuid(video_id)):
            return None
        # the migration's trigger stamps requested_at with the server's clock (a user may not write it)
        change = (
            self._videos()
            .update({"requested_action": str(request)})
            .eq("id", video_id)
            .eq("user_id", user_id)
            .filter("requested_action", "isdistinct", "delete")  # nothing takes a delete's place
        )
        data = _execute(f"ask to {request} the video", change).data
        return _video(data[0]) if data else None

    def workers_online(self, within_seconds: float) -> int:
        arguments = {"p_within_seconds": within_seconds}
        return int(_execute("count the workers", self._client.rpc("online_workers", arguments)).data or 0)

    def requested(self, owner: str, limit: int = 100) -> list[TrackedVideo]:
        arguments = {"p_owner": owner, "p_limit": limit}
        data = _execute("read requests", self._client.rpc("requested_videos", arguments)).data
        return [_video(row) for row in data]

    def clear_request(self, video_id: str, request: UserRequest) -> bool:
        if not _is_uuid(video_id):
            return False
        change = self._videos().update({"requested_action": None}).eq("id", video_id)
        return bool(_execute("drop a request", change.eq("requested_action", str(request))).data)

    def remove(self, video_id: str) -> bool:
        if not _is_uuid(video_id):
            return False
        return bool(_execute("delete the video", self._videos().delete().eq("id", video_id)).data)

    def beat(self, beat: EngineBeat) -> None:
        arguments = {
            "p_owner": beat.owner,
            "p_host": beat.host,
            "p_pid": beat.pid,
            "p_version": beat.version,
            "p_started_at": beat.started_at.isoformat(),
            "p_videos_held": beat.videos_held,
        }
        _execute("record the engine's heartbeat", self._client.rpc("record_engine_beat", arguments))

    def forget_engine(self, owner: str) -> None:
        _execute("forget the engine", self._client.rpc("forget_engine", {"p_owner": owner}))

    def usage(self, user_id: str) -> list[Usage]:
        signed_in = self._signed_in_user()
        if signed_in is not None:  # the function runs as the caller: RLS keeps it to their videos
            if not _same(signed_in, user_id):
                return []
            data = _execute("sum up usage", self._client.rpc("video_usage")).data
            return [Usage(r["project_id"], r["model"], r["size"], r["videos"], r["seconds"]) for r in data]
        # the service role would sum every user's videos: add this user's up here, a page at a time
        totals: dict[tuple[str | None, str, str], list[int]] = {}
        for row in self._completed_rows(user_id):
            total = totals.setdefault((row["project_id"], row["model"], row["size"]), [0, 0])
            total[0] += 1
            total[1] += row["duration_seconds"]
        return [Usage(*key, videos, seconds) for key, (videos, seconds) in totals.items()]

    def _completed_rows(self, user_id: str) -> Iterator[dict[str, Any]]:
        if not _is_uuid(user_id):
            return
        start = 0
        while True:
            request = (
                self._videos()
                .select("id,project_id,model,size,duration_seconds")
                .eq("user_id", user_id)
                .eq("status", str(VideoStatus.COMPLETED))
                .filter("requested_action", "isdistinct", "delete")  # being deleted: left out
                .order("id")
                .range(start, start + ROWS_PER_PAGE - 1)
            )
            page = _execute("sum up usage", request).data
            yield from page
            if len(page) < ROWS_PER_PAGE:
                return
            start += ROWS_PER_PAGE

    def progress(self, video_id: str, owner: str, progress: int, note: str | None = None) -> bool:
        if not _is_uuid(video_id):
            return False
        arguments = {
            "p_id": video_id,
            "p_owner": owner,
            "p_progress": progress,
            "p_external_video_id": None,
            "p_note": note,
        }
        return bool(_execute("save progress", self._client.rpc("record_video_progress", arguments)).data)

    def _write_move(
        self, video_id: str, sources: frozenset[VideoStatus], owner: str | None, values: Values
    ) -> TrackedVideo | None:
        if not _is_uuid(video_id):
            return None
        row = {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in values.items()
        }
        states = sorted(map(str, sources))
        request = self._videos().update(row).eq("id", video_id).in_("status", states)
        if owner is not None:
            request = request.eq("lease_owner", owner)
        data = _execute(f"move video {video_id} to {row['status']}", request).data
        return _video(data[0]) if data else None

    def _claim(
        self, owner: str, capacity: int, lease_seconds: float, share: QueueShare
    ) -> list[TrackedVideo]:
        arguments = {
            "p_owner": owner,
            "p_capacity": capacity,
            "p_lease_seconds": lease_seconds,
            "p_models": None if share.models is None else sorted(share.models),
            "p_exclude": share.exclude,
        }
        data = _execute("claim queued videos", self._client.rpc("claim_queued_videos", arguments)).data
        return sorted((_video(row) for row in data), key=lambda video: video.created_at)

    def heartbeat(self, owner: str, lease_seconds: float) -> list[TrackedVideo]:
        arguments = {"p_owner": owner, "p_lease_seconds": lease_seconds}
        data = _execute("hold leases", self._client.rpc("hold_video_leases", arguments)).data
        return [_video(row) for row in data]

    def reference_used(self, key: str) -> bool:
        request = self._videos().select("id").eq("reference_path", key).limit(1)
        return bool(_execute("look up a reference", request).data)

    def jobs_held(self, job_ids: Collection[str]) -> set[str]:
        ids = list(job_ids)
        if not ids:
            return set()
        request = self._videos().select("external_video_id").in_("external_video_id", ids)
        return {row["external_video_id"] for row in _execute("look up provider jobs", request).data}

    def lease_owners(self) -> set[str]:
        request = self._videos().select("lease_owner").not_.is_("lease_owner", "null")
        return {row["lease_owner"] for row in _execute("list lease owners", request).data}

    def release(self, owner: str) -> int:
        request = self._videos().update({"lease_owner": None, "lease_expires_at": None})
        return len(_execute("release leases", request.eq("lease_owner", owner).select("id")).data)

    def close(self) -> None:
        """Nothing to close: the shared httpx.Client belongs to whoever made the client."""
