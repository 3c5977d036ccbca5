"""The model catalogue file: built-in entries, user extensions, and errors that name the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mimio_core.catalogue import MODELS, CatalogueError, load_catalogue, models_for, stand_in_models
from mimio_core.domain import VideoRequest
from mimio_core.validation import ValidationError, validate_request

VEO = {
    "name": "veo-3",
    "label": "Veo 3 (gateway)",
    "providers": ["openai"],
    "sizes": ["1280x720", "1920x1080"],
    "seconds": [4, 8],
    "references": ["image"],
    "price_per_second": {"1280x720": 0.4},
}


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_built_in_entries_hold_the_sora_matrix_the_local_preview_and_hosted_models() -> None:
    assert MODELS["sora-2"].sizes == ("720x1280", "1280x720")
    assert MODELS["sora-2-pro"].cost("1792x1024", 12) == 6.0
    assert MODELS["mimio-local"].reference_kinds == {"image", "video"}
    assert list(models_for(MODELS, "mimio")) == ["sora-2", "sora-2-pro"]
    # the embedded renderer offers only its own free model: a demo never looks as if it spends money
    assert list(models_for(MODELS, "local")) == ["mimio-local"]
    assert MODELS["mimio-local"].label == "Local preview"
    assert {MODELS["mimio-local"].cost(size, 12) for size in MODELS["mimio-local"].sizes} == {0.0}
    fal, replicate = models_for(MODELS, "fal"), models_for(MODELS, "replicate")
    for hosted in (*fal.values(), *replicate.values()):
        assert hosted.request is not None and hosted.request.reference is not None, hosted.name
        assert hosted.source.startswith(("https://fal.ai/", "https://replicate.com/")), hosted.name
    labels = {spec.label for spec in fal.values()}
    assert {
        "Veo 3.1",
        "Veo 3.1 Fast",
        "Kling 3.0 Turbo Pro",
        "Seedance 2.0 Fast",
        "MiniMax Hailuo 2.3",
    } <= labels
    assert {"Wan 2.5 (preview)", "Luma Ray 2 Flash"} <= labels
    assert fal["fal-hailuo-2.3"].cost("1366x768", 10) == 0.56  # priced per video, not per second
    assert fal["fal-veo-3.1"].cost("1920x1080", 8) == 3.2
    # the embedded server stands in for the APIs it speaks, never for a hosted model
    assert list(stand_in_models(MODELS)) == ["sora-2", "sora-2-pro", "mimio-local"]


def test_a_user_added_model_joins_its_provider_and_validates(tmp_path: Path) -> None:
    catalogue = load_catalogue(write(tmp_path / "models.jsonl", "# our gateway", json.dumps(VEO)))
    openai = models_for(catalogue, "openai")
    assert list(openai) == ["sora-2", "sora-2-pro", "veo-3"]
    assert "veo-3" not in models_for(catalogue, "mimio")
    request = validate_request(
        VideoRequest(prompt="x", model="veo-3", size="1920x1080", seconds=8),
        max_reference_bytes=1,
        models=openai,
    )
    assert (request.model, request.size, request.seconds) == ("veo-3", "1920x1080", 8)
    assert openai["veo-3"].cost("1920x1080", 8) is None  # no price given for that size
    with pytest.raises(ValidationError) as refused:
        validate_request(
            VideoRequest(prompt="x", model="veo-3", seconds=12), max_reference_bytes=1, models=openai
        )
    assert refused.value.errors == {"seconds": "veo-3 makes videos of 4, 8 seconds, not 12."}


def test_a_user_entry_overrides_a_built_in_one_by_name(tmp_path: Path) -> None:
    cheaper = {**VEO, "name": "sora-2", "providers": ["mimio"], "sizes": ["720x1280"], "price_per_second": {}}
    catalogue = load_catalogue(write(tmp_path / "models.jsonl", json.dumps(cheaper)))
    assert catalogue["sora-2"].sizes == ("720x1280",) and catalogue["sora-2"].cost("720x1280", 4) is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"name": "x", "sizes": ["1280x720"], "seconds": [4]', "line 3: not valid JSON"),
        ('["a list"]', "line 3: each line must be a JSON object"),
        ('{"name": "x", "seconds": [4]}', "line 3: 'sizes' is required"),
        (
            '{"name": "x", "sizes": ["big"], "seconds": [4]}',
            "line 3: 'sizes' must be a non-empty list of WIDTHxHEIGHT",
        ),
        (
            '{"name": "x", "sizes": ["1281x720"], "seconds": [4]}',
            "line 3: every size needs even width and height",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": ["4"]}',
            "line 3: 'seconds' must be a non-empty list",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "duration": 4}',
            "line 3: unknown field(s) duration",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "providers": ["veo"]}',
            "line 3: 'providers' must",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "price_per_second": {"9x9": 1}}',
            "line 3: 'price_per",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "providers": ["fal"]}',
            "line 3: 'request' is required for a fal model",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "providers": ["fal", "local"], '
            '"request": {}}',
            "line 3: 'providers': a fal or replicate model has one provider",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "providers": ["fal"], "request": {}}',
            "line 3: 'request.endpoint' is required",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "providers": ["fal"], '
            '"request": {"endpoint": "a/b", "size": {"1920x1080": {}}}}',
            "line 3: 'request.size' must map this model's sizes",
        ),
        (
            '{"name": "x", "sizes": ["1280x720", "720x1280"], "seconds": [4], "providers": ["fal"], '
            '"request": {"endpoint": "a/b", "size": {"1280x720": {"aspect_ratio": "16:9"}}}}',
            "line 3: 'request.size' has no input fields for 720x1280",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "providers": ["replicate"], '
            '"request": {"endpoint": "a/b", "seconds": {"field": "duration", "type": "float"}}}',
            "line 3: 'request.seconds.type' must be",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "providers": ["fal"], '
            '"request": {"endpoint": "a/b", "image_endpoint": "a/b/i2v"}}',
            "line 3: 'request.image_endpoint' needs 'request.reference'",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "providers": ["fal"], '
            '"request": {"endpoint": "a/b", "input": {"loop": [1]}}}',
            "line 3: 'request.input' must be an object",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "providers": ["fal"], '
            '"request": {"endpoint": "a/b", "webhook": "x"}}',
            "line 3: unknown field(s) request.webhook",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "request": {"endpoint": "a/b"}}',
            "line 3: 'request' is only for fal and replicate models",
        ),
        (
            '{"name": "x", "sizes": ["1280x720"], "seconds": [4], "price_per_video": {"1280x720": {"5": 1}}}',
            "line 3: 'price_per_video' must map sizes",
        ),
    ],
)
def test_an_invalid_catalogue_names_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path / "models.jsonl", "# extra models", json.dumps(VEO), line)
    with pytest.raises(CatalogueError) as refused:
        load_catalogue(path)
    assert str(refused.value).startswith(f"Model catalogue {path}, {message}")


def test_a_missing_catalogue_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"^Model catalogue .*nope\.jsonl cannot be read"):
        load_catalogue(tmp_path / "nope.jsonl")


def test_a_hosted_model_is_one_line_of_data(tmp_path: Path) -> None:
    """The README's example line: a model fal hosts, added without code, routed and priced."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    line = next(text for text in readme.splitlines() if text.startswith('{"name": "fal-kling-2.1"'))
    catalogue = load_catalogue(write(tmp_path / "models.jsonl", line))
    kling = models_for(catalogue, "fal")["fal-kling-2.1"]
    assert kling.request is not None
    assert kling.request.route(has_reference=False) == "fal-ai/kling-video/v2.1/standard/text-to-video"
    assert kling.request.model_input("a fox", "720x1280", 10) == {
        "prompt": "a fox",
        "aspect_ratio": "9:16",
        "duration": "10",
    }
    assert kling.request.model_input("a fox", "720x1280", 5, "data:image/png;base64,AA==") == {
        "prompt": "a fox",
        "duration": "5",
        "image_url": "data:image/png;base64,AA==",
    }
    assert kling.cost("1280x720", 5) is None
