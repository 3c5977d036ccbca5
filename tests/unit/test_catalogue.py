"""The model catalogue file: built-in entries, user extensions, and errors that name the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mimio_core.catalogue import MODELS, CatalogueError, load_catalogue, models_for
from mimio_core.models import VideoRequest
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


def test_built_in_entries_hold_the_sora_matrix_and_the_local_renderer() -> None:
    assert MODELS["sora-2"].sizes == ("720x1280", "1280x720")
    assert MODELS["sora-2-pro"].cost("1792x1024", 12) == 6.0
    assert MODELS["mimio-local"].reference_kinds == {"image", "video"}
    assert list(models_for(MODELS, "mimio")) == ["sora-2", "sora-2-pro"]
    assert list(models_for(MODELS, "local")) == ["sora-2", "sora-2-pro", "mimio-local"]


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
