"""The catalogue and reference fitting as a person meets them on the Single video page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mimio_core.domain import LOCAL_USER_ID
from mimio_core.ui.runtime import get_runtime
from tests.media import png_bytes
from tests.shown import shown
from tests.ui.conftest import ROOT, texts

WIDE = {
    "name": "wide-local",
    "label": "Wide test model",
    "providers": ["local"],
    "sizes": ["1280x720"],
    "seconds": [4],
    "price_per_second": {"1280x720": 0.25},
}


def test_a_model_without_a_price_says_its_cost_is_unknown(
    app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalogue = tmp_path / "models.jsonl"
    catalogue.write_text(json.dumps({**WIDE, "price_per_second": {}}) + "\n")
    monkeypatch.setenv("MIMIO_CATALOGUE_FILE", str(catalogue))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.run()
    at.selectbox(key="single-model").set_value("wide-local").run()
    assert "Cost unknown: the catalogue has no list price for this choice" in texts(at)


def test_a_user_added_model_appears_in_the_form_and_is_made(
    app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalogue = tmp_path / "models.jsonl"
    catalogue.write_text(json.dumps(WIDE) + "\n")
    monkeypatch.setenv("MIMIO_CATALOGUE_FILE", str(catalogue))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.run()
    assert "Wide test model · Embedded renderer" in at.selectbox(key="single-model").options
    at.selectbox(key="single-model").set_value("wide-local").run()
    assert at.selectbox(key="single-size").options == ["1280x720"]
    assert "Estimated cost: $1.00 at list price" in texts(at)
    at.text_area(key="single-prompt").input("a model from our own file").run()
    at.button(key="single-submit").click().run()
    (video_id,) = at.session_state["single-run"]
    (done,) = get_runtime().engine.wait([video_id], timeout=60)  # the embedded server renders it too
    assert (done.model, done.status.value) == ("wide-local", "completed"), done.error


def test_an_invalid_catalogue_stops_the_app_with_the_line_named(
    app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalogue = tmp_path / "models.jsonl"
    catalogue.write_text(
        json.dumps(WIDE) + "\n" + '{"name": "broken", "sizes": "1280x720", "seconds": [4]}\n'
    )
    monkeypatch.setenv("MIMIO_CATALOGUE_FILE", str(catalogue))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.run()
    assert not at.exception
    (error,) = at.error
    assert shown(error.value).startswith(
        f"Mimio cannot start: Model catalogue {catalogue}, line 2: 'sizes' must be"
    )
    assert [t.value for t in at.title] == []  # no page runs half-configured


def test_a_reference_of_another_size_is_previewed_as_it_will_be_sent(app: AppTest) -> None:
    app.selectbox(key="single-size").set_value("1280x720").run()
    app.file_uploader(key="single-reference").set_value(("photo.png", png_bytes(640, 480), "image/png")).run()
    said = texts(app)
    assert "Detected: image/png" in said
    assert "Fitted to 1280x720, scaled and centre-cropped from 640x480" in said
    app.text_area(key="single-prompt").input("fit me").run()
    app.button(key="single-submit").click().run()
    assert get_runtime().store.count_videos(LOCAL_USER_ID) == 1
