"""The Supabase backend against a REAL Supabase project, with the migrations of supabase/migrations
applied. It runs only when these are in the environment, and is skipped (plain skip: CI has no
project) otherwise:

    SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY,
    SUPABASE_TEST_EMAIL, SUPABASE_TEST_PASSWORD (an existing user of that project)

Use a project for testing: the test cleans up what it makes, and it never claims queued videos (that
would take other people's), but it does write rows and a small file as that user.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from mimio_core.config import load_settings
from mimio_core.domain import QueueShare, UserRequest, VideoStatus
from mimio_core.store.base import NewVideo, ProjectError, VideoFilter, video_key
from mimio_core.supabase_project import SupabaseProject

LIVE_MODEL = "mimio-live-test"  # no real video has it, so the test's claim takes its own video only
NEEDED = (
    "SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_TEST_EMAIL",
    "SUPABASE_TEST_PASSWORD",
)


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    missing = [name for name in NEEDED if not os.environ.get(name)]
    if missing:
        pytest.skip(f"no Supabase project to test against: {', '.join(missing)} not set")
    return {name: os.environ[name] for name in NEEDED}


def test_a_signed_in_user_and_the_engine_on_a_real_project(env, tmp_path: Path):
    """Through the app's own wiring: the settings as the app reads them, one SupabaseProject (one
    shared httpx client), a browser session's UserSession, and the engine's service-role store."""
    settings = load_settings()
    assert settings.supabase is not None
    supabase = SupabaseProject(settings.supabase, http_timeout=30)
    session = supabase.new_user_session()
    account = session.sign_in_with_password(env["SUPABASE_TEST_EMAIL"], env["SUPABASE_TEST_PASSWORD"])
    user_id = account.user_id
    user, files = session.store, session.files
    engine, _ = supabase.engine_storage()
    name = f"pytest {uuid.uuid4().hex[:8]}"
    project = user.create_project(user_id, name, "made by tests/supabase/test_live_supabase.py")
    video_id = str(uuid.uuid4())
    key = video_key(user_id, video_id)
    try:
        with pytest.raises(ProjectError, match="You already have a project named"):
            user.create_project(user_id, name)
        [recorded] = user.insert_videos(
            [
                NewVideo(
                    id=video_id,
                    user_id=user_id,
                    title="Live test",
                    prompt="a red fox",
                    model=LIVE_MODEL,
                    size="1280x720",
                    seconds=4,
                    project_id=project.id,
                )
            ]
        )
        assert (recorded.status, recorded.user_id, recorded.project_id) == (
            VideoStatus.QUEUED,
            user_id,
            project.id,
        )
        assert user.count_videos(user_id, VideoFilter(search="red fox", project_id=project.id)) == 1
        assert user.project_video_counts(user_id)[project.id] == 1

        source = tmp_path / "clip.mp4"
        source.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(200_000))
        files.put_file(key, source, "video/mp4")
        assert files.exists(key)
        assert files.read_bytes(key) == source.read_bytes()
        assert supabase.http.get(files.media_source(key)).content == source.read_bytes()

        # the engine (service role) finishes it; the user sees the result
        owner = "live-test-engine"
        # a model only this test records: the claim takes this video and nobody else's
        claimed = engine.claim(owner, capacity=1, lease_seconds=60, share=QueueShare(frozenset({LIVE_MODEL})))
        assert [v.id for v in claimed] == [video_id]
        engine.creating(video_id, owner)
        engine.started(video_id, owner, "live-test-job")
        engine.transferring(video_id, owner)
        done = engine.completed(video_id, owner, key, None)
        assert (done.status, done.progress) == (VideoStatus.COMPLETED, 100)
        assert user.get_video(video_id).storage_path == key
    finally:
        try:
            files.delete(key)
            user.ask(user_id, video_id, UserRequest.DELETE)  # as the user; the engine removes it
            assert engine.remove(video_id) is True
            user.delete_project(user_id, project.id)
            assert user.get_video(video_id) is None and user.get_project(user_id, project.id) is None
        finally:
            session.sign_out()  # this device only: other sessions of the test user stay signed in
            assert session.account() is None
            supabase.close()
