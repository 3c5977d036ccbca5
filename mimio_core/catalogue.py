"""Models, their sizes, durations, reference kinds and prices, kept as data.

A new model is a new entry here; validation, the embedded server and the dashboard read this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

ReferenceKind = Literal["image", "video"]

PORTRAIT, LANDSCAPE = "720x1280", "1280x720"
TALL, WIDE = "1024x1792", "1792x1024"


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts, and what a second of its output costs (USD, None when unknown)."""

    name: str
    label: str
    sizes: tuple[str, ...]
    seconds: tuple[int, ...]
    reference_kinds: frozenset[ReferenceKind] = frozenset({"image"})
    price_per_second: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def default_size(self) -> str:
        return self.sizes[0]

    @property
    def default_seconds(self) -> int:
        return self.seconds[1] if len(self.seconds) > 1 else self.seconds[0]

    def cost(self, size: str, seconds: int) -> float | None:
        """Estimated list price of one video, or None when no price is known."""
        price = self.price_per_second.get(size)
        return None if price is None else round(price * seconds, 2)


MODELS: MappingProxyType[str, ModelSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            ModelSpec(
                name="sora-2",
                label="Sora 2",
                sizes=(PORTRAIT, LANDSCAPE),
                seconds=(4, 8, 12),
                price_per_second=MappingProxyType({PORTRAIT: 0.10, LANDSCAPE: 0.10}),
            ),
            ModelSpec(
                name="sora-2-pro",
                label="Sora 2 Pro",
                sizes=(PORTRAIT, LANDSCAPE, TALL, WIDE),
                seconds=(4, 8, 12),
                price_per_second=MappingProxyType({PORTRAIT: 0.30, LANDSCAPE: 0.30, TALL: 0.50, WIDE: 0.50}),
            ),
            ModelSpec(
                name="mimio-local",
                label="Mimio local renderer (offline)",
                sizes=(PORTRAIT, LANDSCAPE, TALL, WIDE),
                seconds=(4, 8, 12),
                reference_kinds=frozenset({"image", "video"}),
                price_per_second=MappingProxyType({PORTRAIT: 0.0, LANDSCAPE: 0.0, TALL: 0.0, WIDE: 0.0}),
            ),
        )
    }
)

DEFAULT_MODEL = "sora-2"
# Models the embedded server renders; a remote Mimio API server wraps Sora 2 only.
EMBEDDED_MODELS: tuple[str, ...] = ("sora-2", "sora-2-pro", "mimio-local")
REMOTE_MIMIO_MODELS: tuple[str, ...] = ("sora-2", "sora-2-pro")


def parse_size(size: str) -> tuple[int, int]:
    """`"1280x720"` -> (1280, 720); sizes come from the catalogue, so this only splits."""
    width, height = size.lower().split("x")
    return int(width), int(height)
