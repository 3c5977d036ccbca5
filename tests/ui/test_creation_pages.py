"""The three creation pages under AppTest: fields, validation next to fields, submit, pre-fill."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from mimio_core.domain import LOCAL_USER_ID, VideoStatus
from mimio_core.runtime import Runtime
from mimio_core.ui.runtime import get_runtime
from mimio_core.ui.text import plain
from tests import litellm_answers as litellm
from tests.fake_api import FakeApi, Reply
from tests.media import mp4_bytes, png_bytes
from tests.shown import shown
from tests.ui.conftest import ROOT, texts

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\x00" * 200


def test_single_page_shows_every_field_and_the_sidebar(app: AppTest, runtime: Runtime) -> None:
    assert [t.value for t in app.title] == ["Single video"]
    assert {w.label for w in app.selectbox} >= {"Model", "Size", "Duration", "Project", "Active project"}
    assert app.text_area(key="single-prompt").max_chars == 2000
    assert app.selectbox(key="single-size").options == ["720x1280", "1280x720"]
    # every active provider's models, grouped by provider and named with it; the default one's first
    assert app.selectbox(key="single-model").options == [
        "Sora 2 · Mimio video API",
        "Sora 2 Pro · Mimio video API",
        "Local preview · Embedded renderer",
    ]
    sidebar = shown("\n".join(c.value for c in app.sidebar.caption))
    assert f"Mimio video API ({runtime.provider.members['mimio'].base_url}) · answering" in sidebar
    assert "Embedded renderer (offline, free) · answering" in sidebar
    assert "SQLite and local files" in sidebar
    assert "Estimated cost: $0.80 at list price" in texts(app)


@pytest.mark.parametrize(
    ("reply", "health"),
    [
        (Reply(400, litellm.LIST_400), "cloud_done: {gateway} · answering"),
        (
            Reply(401, {"error": {"message": "Authentication Error", "code": "401"}}),
            "cloud_off: {gateway} · refuses the API key",
        ),
    ],
    ids=["litellm-list-400", "wrong-key"],
)
def test_the_sidebar_says_whether_a_gateway_answers_and_takes_the_key(
    app_env: object, api: FakeApi, monkeypatch: pytest.MonkeyPatch, reply: Reply, health: str
) -> None:
    """A working LiteLLM answers its list 400: the sidebar must not call it "not answering"."""
    monkeypatch.setenv("MIMIO_OPENAI_BASE_URL", f"{api.url}v1")
    monkeypatch.setenv("MIMIO_OPENAI_API_KEY", "sk-test")
    api.script("GET", "/v1/videos", reply)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    gateway = f"OpenAI-compatible Videos API ({api.url}v1)"
    assert f":material/{health.format(gateway=gateway)}" in [shown(c.value) for c in at.sidebar.caption]
    assert [(s.method, s.path) for s in api.seen] == [("GET", "/v1/videos")]


def test_the_estimate_says_when_a_price_is_unknown_or_nothing_is_spent(app: AppTest) -> None:
    app.selectbox(key="single-model").set_value("mimio-local").run()
    assert "No cost at list price" in texts(app)
    app.switch_page("app_pages/variations.py").run()
    app.selectbox(key="variations-model").set_value("mimio-local").run()
    assert "No cost for 3 videos at list price" in texts(app)


def test_sizes_follow_the_model(app: AppTest) -> None:
    app.selectbox(key="single-model").set_value("sora-2-pro").run()
    assert app.selectbox(key="single-size").options == ["720x1280", "1280x720", "1024x1792", "1792x1024"]
    app.selectbox(key="single-size").set_value("1792x1024").run()
    app.selectbox(key="single-model").set_value("sora-2").run()
    assert app.selectbox(key="single-size").value == "720x1280"  # sora-2 cannot make 1792x1024


def test_invalid_input_is_shown_next_to_the_field_and_nothing_is_recorded(
    app: AppTest, runtime: Runtime
) -> None:
    app.file_uploader(key="single-reference").set_value(("evil.png", ELF, "image/png")).run()
    app.button(key="single-submit").click().run()
    said = texts(app)
    assert "Prompt is empty: describe the video you want." in said
    assert "Reference file 'evil.png' is ELF" in said
    assert runtime.store.count_videos(LOCAL_USER_ID) == 0
    assert "single-run" not in app.session_state


def test_a_valid_submit_records_one_video_and_disables_the_button(app: AppTest, runtime: Runtime) -> None:
    app.text_area(key="single-prompt").input("a red fox running through snow").run()
    app.selectbox(key="single-seconds").set_value(4).run()
    app.file_uploader(key="single-reference").set_value(("poster.png", png_bytes(), "image/png")).run()
    assert "Detected: image/png" in texts(app)
    app.button(key="single-submit").click().run()
    assert not app.exception
    (video_id,) = app.session_state["single-run"]
    assert app.button(key="single-submit").disabled  # (a real double click is in the browser test)
    assert runtime.store.count_videos(LOCAL_USER_ID) == 1
    video = runtime.store.get_video(video_id)
    assert (video.title, video.seconds, video.reference_path is not None) == (
        "a red fox running through snow",
        4,
        True,
    )
    (done,) = runtime.engine.wait([video_id], timeout=60)
    assert done.status is VideoStatus.COMPLETED
    app.run()
    assert [b.label for b in app.get("download_button")] == ["Download"]
    assert "1 of 1 finished" in next(p.text for p in app.progress)
    app.button(key="single-new").click().run()
    assert "single-run" not in app.session_state and not app.button(key="single-submit").disabled


def test_variations_get_unique_titles_and_start_together(app: AppTest, runtime: Runtime) -> None:
    app.switch_page("app_pages/variations.py").run()
    app.text_input(key="variations-title").input("Waves").run()
    app.text_area(key="variations-prompt").input("ocean waves at dusk").run()
    app.selectbox(key="variations-seconds").set_value(4).run()
    assert "Estimated cost for 3 videos: $1.20 at list price" in texts(app)
    app.button(key="variations-submit").click().run()
    videos = runtime.store.get_videos(app.session_state["variations-run"])
    assert [v.title for v in videos] == ["Waves - Variation 1", "Waves - Variation 2", "Waves - Variation 3"]
    assert len({v.batch_id for v in videos}) == 1


def test_batch_rows_are_validated_each_and_recorded_together(app: AppTest, runtime: Runtime) -> None:
    app.switch_page("app_pages/batch.py").run()
    app.button(key="batch-add").click().run()
    app.button(key="batch-add").click().run()
    assert [b.key for b in app.button if b.key == "batch-add"] == []  # three rows is the most
    app.text_area(key="batch-0-prompt").input("first scene").run()
    app.text_area(key="batch-2-prompt").input("third scene").run()
    app.button(key="batch-submit").click().run()
    assert texts(app).count("Prompt is empty: describe the video you want.") == 1
    assert runtime.store.count_videos(LOCAL_USER_ID) == 0
    app.button(key="batch-1-remove").click().run()
    app.selectbox(key="batch-2-model").set_value("sora-2-pro").run()
    app.selectbox(key="batch-2-size").set_value("1792x1024").run()
    app.button(key="batch-submit").click().run()
    videos = runtime.store.get_videos(app.session_state["batch-run"])
    assert [(v.prompt, v.model, v.size) for v in videos] == [
        ("first scene", "sora-2", "720x1280"),
        ("third scene", "sora-2-pro", "1792x1024"),
    ]


def test_the_link_query_pre_fills_the_form(app_env: object) -> None:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.query_params.update(
        {
            "prompt": "a lighthouse in fog",
            "title": "Lighthouse",
            "model": "sora-2-pro",
            "size": "1792x1024",
            "seconds": "12",
        }
    )
    at.run()
    assert not at.exception
    assert at.text_area(key="single-prompt").value == "a lighthouse in fog"
    assert at.text_input(key="single-title").value == "Lighthouse"
    assert (at.selectbox(key="single-model").value, at.selectbox(key="single-size").value) == (
        "sora-2-pro",
        "1792x1024",
    )
    assert at.selectbox(key="single-seconds").value == 12


def test_invalid_query_values_fall_back_with_a_notice(app_env: object) -> None:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.query_params.update(
        {"prompt": "ok", "model": "veo-9", "size": "1x1", "seconds": "forever", "project": "nope"}
    )
    at.run()
    assert not at.exception
    assert at.selectbox(key="single-model").value == "sora-2"
    assert at.selectbox(key="single-size").value == "720x1280"
    assert at.selectbox(key="single-seconds").value == 8
    notices = [t.value for t in at.toast]  # shown literally: escaped for Streamlit's markdown
    for notice in (
        "Ignored model='veo-9' from the link: choose one of sora-2, sora-2-pro, mimio-local.",
        "Ignored size='1x1' from the link: sora-2 makes 720x1280, 1280x720.",
        "Ignored seconds='forever' from the link: sora-2 makes 4, 8, 12 seconds.",
        "Ignored the project from the link: it is not one of your projects.",
    ):
        assert plain(notice) in notices


def test_a_crafted_link_cannot_put_a_link_or_a_remote_image_in_a_notice(app_env: object) -> None:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.query_params.update(
        {"prompt": "ok", "model": "[Claim free credits](http://evil)", "size": "![x](http://evil/pixel.png)"}
    )
    at.run()
    assert not at.exception
    notices = [t.value for t in at.toast]
    assert notices and all("](" not in notice and "![" not in notice for notice in notices), notices
    assert any(r"\[Claim free credits\]\(http\://evil\)" in notice for notice in notices), notices


TRUNCATED_PNG = png_bytes()[:200]


@pytest.mark.parametrize(
    ("prompt", "upload", "model", "message"),
    [
        ("   ", None, "sora-2", "Prompt is empty: describe the video you want."),
        ("ok", ("evil.png", ELF, "image/png"), "sora-2", "Reference file 'evil.png' is ELF 64-bit"),
        ("ok", ("cut.png", TRUNCATED_PNG, "image/png"), "sora-2", "looks like PNG but cannot be decoded"),
        (
            "ok",
            ("clip.mp4", mp4_bytes(), "video/mp4"),
            "sora-2",
            "takes image references only (PNG, JPEG or WebP)",
        ),
        (
            "ok",
            ("huge.png", png_bytes(3000, 3000) + b"\0" * 2_000_000, "image/png"),
            "sora-2",
            "the limit is 1 MB",
        ),
    ],
    ids=["blank", "executable", "truncated", "video-for-image-model", "too-big"],
)
def test_every_refusal_is_explained_and_records_nothing(
    app_env: object,
    monkeypatch: pytest.MonkeyPatch,
    prompt: str,
    upload: tuple | None,
    model: str,
    message: str,
) -> None:
    monkeypatch.setenv("MIMIO_MAX_REFERENCE_MB", "1")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.run()
    at.session_state["single-prompt"] = prompt  # (over 2000 characters the text area itself cuts it)
    at.selectbox(key="single-model").set_value(model)
    if upload is not None:
        at.file_uploader(key="single-reference").set_value(upload)
    at.run()
    at.button(key="single-submit").click().run()
    assert not at.exception
    assert message in texts(at)
    assert get_runtime().store.count_videos(LOCAL_USER_ID) == 0
    assert "single-run" not in at.session_state


def test_removing_a_batch_row_keeps_what_the_other_rows_hold(app: AppTest) -> None:
    app.switch_page("app_pages/batch.py").run()
    app.button(key="batch-add").click().run()
    app.text_area(key="batch-1-prompt").input("second prompt").run()
    app.selectbox(key="batch-1-model").set_value("sora-2-pro").run()
    app.button(key="batch-0-remove").click().run()
    assert app.text_area(key="batch-1-prompt").value == "second prompt"
    assert app.selectbox(key="batch-1-model").value == "sora-2-pro"


def test_what_was_typed_survives_a_visit_to_another_page(app: AppTest) -> None:
    app.text_area(key="single-prompt").input("half written idea").run()
    app.selectbox(key="single-seconds").set_value(12).run()
    app.switch_page("app_pages/my_videos.py").run()
    app.switch_page("app_pages/single.py").run()
    assert app.text_area(key="single-prompt").value == "half written idea"
    assert app.selectbox(key="single-seconds").value == 12
