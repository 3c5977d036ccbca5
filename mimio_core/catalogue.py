"""Models, their sizes, durations, reference kinds and prices, kept as data.

The built-in entries live in `catalogue.jsonl` beside this module; a user extends or overrides them
with a file of the same format (`MIMIO_CATALOGUE_FILE`), so a gateway's model needs no code.
Validation, the form's choices and the cost estimates all read the loaded catalogue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from mimio_core.errors import ConfigurationError
from mimio_core.request_template import RequestTemplate, parse_template

ReferenceKind = Literal["image", "video"]
ProviderKind = Literal["local", "mimio", "openai", "fal", "replicate"]
# platforms hosting many models, each behind its own endpoint: their entries carry a request template
HOSTED: frozenset[ProviderKind] = frozenset({"fal", "replicate"})
BUILTIN_FILE = Path(__file__).with_name("catalogue.jsonl")
SIZE = re.compile(r"([1-9][0-9]{1,4})x([1-9][0-9]{1,4})")
FIELDS = {
    "name",
    "label",
    "providers",
    "sizes",
    "seconds",
    "references",
    "price_per_second",
    "price_per_video",
    "request",
    "source",
}


class CatalogueError(ConfigurationError):
    """A catalogue file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts, and what a second of its output costs (USD, None when unknown)."""

    name: str
    label: str
    sizes: tuple[str, ...]
    seconds: tuple[int, ...]
    reference_kinds: frozenset[ReferenceKind] = frozenset({"image"})
    providers: frozenset[ProviderKind] = frozenset({"local", "mimio", "openai"})
    price_per_second: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))
    # flat prices of whole videos, by size then seconds, where a platform prices per video
    price_per_video: MappingProxyType[str, MappingProxyType[int, float]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    request: RequestTemplate | None = None  # how a request becomes a hosted model's input
    source: str = ""  # the model page its fields and prices come from

    @property
    def default_size(self) -> str:
        return self.sizes[0]

    @property
    def default_seconds(self) -> int:
        return self.seconds[1] if len(self.seconds) > 1 else self.seconds[0]

    def cost(self, size: str, seconds: int) -> float | None:
        """Estimated list price of one video, or None when no price is known."""
        by_length = self.price_per_video.get(size)
        flat = by_length.get(seconds) if by_length is not None else None
        if flat is not None:
            return round(flat, 2)
        price = self.price_per_second.get(size)
        return None if price is None else round(price * seconds, 2)


def _flat_prices(
    value: Any, sizes: list[str], seconds: list[int]
) -> MappingProxyType[str, MappingProxyType[int, float]]:
    """`{"1280x720": {"6": 0.28, "10": 0.56}}`: what one whole video of a size and length costs."""
    problem = ValueError(
        "'price_per_video' must map sizes of this model to {\"<seconds>\": price} for its durations"
    )
    if not isinstance(value, dict) or not set(value) <= set(sizes):
        raise problem
    flat = {}
    for size, by_length in value.items():
        if not isinstance(by_length, dict) or not all(
            key.isdigit() and int(key) in seconds and isinstance(price, int | float) and price >= 0
            for key, price in by_length.items()
        ):
            raise problem
        flat[size] = MappingProxyType({int(key): float(price) for key, price in by_length.items()})
    return MappingProxyType(flat)


def _spec(entry: Any) -> ModelSpec:
    """One catalogue line as a spec; ValueError says what is wrong with it."""
    if not isinstance(entry, dict):
        raise ValueError("each line must be a JSON object")
    if unknown := set(entry) - FIELDS:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(FIELDS))}")
    for required in ("name", "sizes", "seconds"):
        if required not in entry:
            raise ValueError(f"{required!r} is required")
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        raise ValueError("'name' must be a non-empty string")
    sizes = entry["sizes"]
    if (
        not isinstance(sizes, list)
        or not sizes
        or not all(isinstance(s, str) and SIZE.fullmatch(s) for s in sizes)
    ):
        raise ValueError("'sizes' must be a non-empty list of WIDTHxHEIGHT strings such as \"1280x720\"")
    if any(int(part) % 2 for size in sizes for part in size.split("x")):
        raise ValueError("every size needs even width and height (H.264 requires it)")
    seconds = entry["seconds"]
    if (
        not isinstance(seconds, list)
        or not seconds
        or not all(type(s) is int and 0 < s <= 600 for s in seconds)
    ):
        raise ValueError("'seconds' must be a non-empty list of whole seconds between 1 and 600")
    references = entry.get("references", ["image"])
    if not isinstance(references, list) or not set(references) <= set(get_args(ReferenceKind)):
        raise ValueError('\'references\' must list "image" and/or "video"')
    providers = entry.get("providers", ["local", "mimio", "openai"])
    if not isinstance(providers, list) or not providers or not set(providers) <= set(get_args(ProviderKind)):
        raise ValueError(f"'providers' must list some of {', '.join(get_args(ProviderKind))}")
    hosted = set(providers) & HOSTED
    if hosted and len(providers) > 1:
        raise ValueError("'providers': a fal or replicate model has one provider (its endpoint is theirs)")
    if hosted and "request" not in entry:
        raise ValueError(f"'request' is required for a {providers[0]} model (its endpoint and input fields)")
    if "request" in entry and not hosted:
        raise ValueError("'request' is only for fal and replicate models")
    if not isinstance(entry.get("source", ""), str):
        raise ValueError("'source' must be the URL of the model's page")
    prices = entry.get("price_per_second", {})
    if not isinstance(prices, dict) or not all(
        size in sizes and isinstance(price, int | float) and price >= 0 for size, price in prices.items()
    ):
        raise ValueError("'price_per_second' must map sizes of this model to prices of 0 or more")
    flat = _flat_prices(entry.get("price_per_video", {}), sizes, seconds)
    return ModelSpec(
        name=name.strip(),
        label=str(entry.get("label") or name).strip(),
        sizes=tuple(sizes),
        seconds=tuple(seconds),
        reference_kinds=frozenset(references),
        providers=frozenset(providers),
        price_per_second=MappingProxyType({size: float(price) for size, price in prices.items()}),
        price_per_video=flat,
        request=parse_template(entry["request"], tuple(sizes)) if hosted else None,
        source=entry.get("source", ""),
    )


def read_catalogue_file(path: Path) -> list[ModelSpec]:
    """Every model of a JSON Lines file (blank lines and # comments allowed)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"Model catalogue {path} cannot be read: {exc}") from None
    specs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            specs.append(_spec(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise CatalogueError(
                f"Model catalogue {path}, line {number}: not valid JSON ({exc.msg})"
            ) from None
        except ValueError as exc:
            raise CatalogueError(f"Model catalogue {path}, line {number}: {exc}") from None
    return specs


def load_catalogue(extra: Path | None = None) -> Mapping[str, ModelSpec]:
    """The built-in models, extended (or overridden by name) by the user's file."""
    specs = read_catalogue_file(BUILTIN_FILE) + (read_catalogue_file(extra) if extra else [])
    return MappingProxyType({spec.name: spec for spec in specs})


def models_for(catalogue: Mapping[str, ModelSpec], provider: ProviderKind) -> Mapping[str, ModelSpec]:
    """The models a provider kind offers, in catalogue order."""
    return MappingProxyType({name: spec for name, spec in catalogue.items() if provider in spec.providers})


def route_models(
    catalogue: Mapping[str, ModelSpec], active: Sequence[ProviderKind]
) -> dict[str, ProviderKind]:
    """Each model some active provider offers -> the first such provider (the default one first);
    ordered by provider, then as in the catalogue, so the form groups them."""
    first = {name: next((p for p in active if p in spec.providers), None) for name, spec in catalogue.items()}
    return {name: kind for kind in active for name, provider in first.items() if provider == kind}


def stand_in_models(catalogue: Mapping[str, ModelSpec]) -> Mapping[str, ModelSpec]:
    """What the embedded server can render: every model of the APIs it implements (its own, the
    Mimio API, the OpenAI Videos API); hosted models need their platform."""
    return MappingProxyType({name: spec for name, spec in catalogue.items() if not spec.providers & HOSTED})


MODELS: Mapping[str, ModelSpec] = load_catalogue()
DEFAULT_MODEL = "sora-2"


def parse_size(size: str) -> tuple[int, int]:
    """`"1280x720"` -> (1280, 720); sizes come from the catalogue, so this only splits."""
    width, height = size.lower().split("x")
    return int(width), int(height)
