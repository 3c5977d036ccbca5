"""How one video request becomes a hosted model's input, kept as data in the catalogue.

Hosting platforms (fal.ai, Replicate) serve each model behind its own endpoint with its own input
fields: one takes `duration: "5"`, another `duration: 8`, a third `"8s"`; sizes travel as an aspect
ratio, a resolution, or width and height. A catalogue entry's `request` object says which, so adding
a model is one line of data, and the adapters only speak their platform's protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

SecondsType = Literal["integer", "string"]
TEMPLATE_FIELDS = {
    "endpoint",
    "image_endpoint",
    "size",
    "seconds",
    "reference",
    "input",
    "image_omit",
    "output",
}
JsonScalar = str | int | float | bool


@dataclass(frozen=True)
class SecondsField:
    """Where the duration goes and how it is written: `duration: 5`, `"5"` or (suffix "s") `"5s"`."""

    name: str = "duration"
    type: SecondsType = "integer"
    suffix: str = ""

    def value(self, seconds: int) -> int | str:
        return seconds if self.type == "integer" else f"{seconds}{self.suffix}"


@dataclass(frozen=True)
class RequestTemplate:
    """A model's endpoints and the input its requests become.

    `endpoint`: the text-to-video endpoint (fal: `owner/alias/sub/path`; Replicate: `owner/name`, or
    `owner/name:<version>`); `image_endpoint`: where a request with a reference goes (None: the same
    endpoint, which then takes the image in `reference`). `size`: input fields per catalogue size.
    `input`: fixed extra fields; `image_omit`: fields not sent with an image (many image-to-video
    endpoints take no aspect ratio: the image has one). `output`: the dotted path to the video URL in
    the result ("" is the result itself, or its first item when a list)."""

    endpoint: str
    size: Mapping[str, Mapping[str, JsonScalar]]
    seconds: SecondsField | None = SecondsField()
    reference: str | None = None
    image_endpoint: str | None = None
    input: Mapping[str, JsonScalar] = field(default_factory=lambda: MappingProxyType({}))
    image_omit: frozenset[str] = frozenset()
    output: str = "video.url"

    def route(self, has_reference: bool) -> str:
        return self.image_endpoint if has_reference and self.image_endpoint else self.endpoint

    def model_input(
        self, prompt: str, size: str, seconds: int, reference_url: str | None = None
    ) -> dict[str, Any]:
        """The JSON input of one request; `reference_url` is the image as a URL or data URI."""
        values: dict[str, Any] = {**self.input, "prompt": prompt, **self.size.get(size, {})}
        if self.seconds is not None:
            values[self.seconds.name] = self.seconds.value(seconds)
        if reference_url is not None and self.reference is not None:
            values = {name: value for name, value in values.items() if name not in self.image_omit}
            values[self.reference] = reference_url
        return values


def output_url(result: Any, path: str) -> str | None:
    """The video URL at a dotted `path` of a result ("" is the result itself, or its first item when a
    list; a file object `{"url": ...}` gives its URL), or None when it is not there."""
    value = result
    for part in path.split(".") if path else []:
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("url")
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def _scalars(value: Any, what: str) -> Mapping[str, JsonScalar]:
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(item, str | int | float | bool) for key, item in value.items()
    ):
        raise ValueError(f"{what} must be an object of field names to strings, numbers or true/false")
    return MappingProxyType(dict(value))


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(f"{what} must be a non-empty string without surrounding spaces")
    return value


def _seconds(value: Any) -> SecondsField | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"field", "type", "suffix"}:
        raise ValueError(
            "'request.seconds' must be null or an object with 'field', 'type' (integer or string) "
            "and 'suffix' (for strings such as \"5s\")"
        )
    kind = value.get("type", "integer")
    if kind not in ("integer", "string"):
        raise ValueError('\'request.seconds.type\' must be "integer" or "string"')
    suffix = value.get("suffix", "")
    if not isinstance(suffix, str) or (suffix and kind != "string"):
        raise ValueError("'request.seconds.suffix' must be a string, and only with type \"string\"")
    return SecondsField(_name(value.get("field", "duration"), "'request.seconds.field'"), kind, suffix)


def parse_template(value: Any, sizes: tuple[str, ...]) -> RequestTemplate:
    """A catalogue entry's `request` object; ValueError names the field that is wrong."""
    if not isinstance(value, dict):
        raise ValueError("'request' must be an object")
    if unknown := set(value) - TEMPLATE_FIELDS:
        raise ValueError(
            f"unknown field(s) request.{', request.'.join(sorted(unknown))}; "
            f"use {', '.join(sorted(TEMPLATE_FIELDS))}"
        )
    if "endpoint" not in value:
        raise ValueError("'request.endpoint' is required (the model's endpoint or model id)")
    size_fields = value.get("size", {})
    if not isinstance(size_fields, dict) or set(size_fields) - set(sizes):
        raise ValueError("'request.size' must map this model's sizes to their input fields")
    if missing := [size for size in sizes if size not in size_fields] if size_fields else []:
        raise ValueError(f"'request.size' has no input fields for {', '.join(missing)}")
    reference = value.get("reference")
    image_endpoint = value.get("image_endpoint")
    if image_endpoint is not None and reference is None:
        raise ValueError("'request.image_endpoint' needs 'request.reference' (the input field of the image)")
    output = value.get("output", "video.url")
    if not isinstance(output, str):
        raise ValueError('\'request.output\' must be a dotted path such as "video.url", or ""')
    image_omit = value.get("image_omit", [])
    if not isinstance(image_omit, list) or not all(isinstance(name, str) for name in image_omit):
        raise ValueError("'request.image_omit' must be a list of input field names")
    return RequestTemplate(
        endpoint=_name(value["endpoint"], "'request.endpoint'"),
        size=MappingProxyType(
            {size: _scalars(fields, f"'request.size.{size}'") for size, fields in size_fields.items()}
        ),
        seconds=_seconds(value.get("seconds", {})),
        reference=None if reference is None else _name(reference, "'request.reference'"),
        image_endpoint=None if image_endpoint is None else _name(image_endpoint, "'request.image_endpoint'"),
        input=_scalars(value.get("input", {}), "'request.input'"),
        image_omit=frozenset(image_omit),
        output=output,
    )
