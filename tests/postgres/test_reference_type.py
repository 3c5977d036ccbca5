"""The migration `reference_type`: a reference's MIME type recorded with it, by its user, checked."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.postgres.conftest import USER_A
from tests.postgres.test_migrations_and_rls import as_user, raises, rows

psycopg = pytest.importorskip("psycopg")

INSERT = (
    "insert into public.videos (id, title, prompt, model, size, duration_seconds, reference_path,"
    " reference_type) values (%s, 'T', 'P', 'sora-2', '1280x720', 4, %s, %s)"
)


def reference(user: object) -> str:
    return f"{user}/references/{'ab' * 32}.png"


def test_a_user_records_the_type_of_their_reference_with_it(db) -> None:
    video = uuid4()
    with as_user(db, USER_A):
        db.execute(INSERT, [video, reference(USER_A), "image/png"])
    assert rows(db, "select reference_type from public.videos where id = %s", [video]) == [("image/png",)]


@pytest.mark.parametrize(
    ("path", "kind", "constraint"),
    [
        ("own", "image/gif", "videos_reference_type_check"),  # not a type the app accepts
        ("own", "text/html", "videos_reference_type_check"),
        (None, "image/png", "videos_reference_type_with_path"),  # a type without a reference
    ],
)
def test_only_an_accepted_type_beside_a_reference_may_be_recorded(db, path, kind, constraint) -> None:
    with raises("23514", constraint), as_user(db, USER_A):
        db.execute(INSERT, [uuid4(), reference(USER_A) if path else None, kind])
    assert rows(db, "select count(*) from public.videos") == [(0,)]


def test_a_user_cannot_change_the_type_afterwards(db) -> None:
    video = uuid4()
    with as_user(db, USER_A):
        db.execute(INSERT, [video, reference(USER_A), "image/png"])
    with raises("42501", "permission denied for table videos"), as_user(db, USER_A):
        db.execute("update public.videos set reference_type = 'video/mp4' where id = %s", [video])
