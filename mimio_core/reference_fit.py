"""Fitting a reference image to the video's exact size, as providers require.

The original upload is kept in storage; the fitted copy is what a provider receives. Fitting respects
EXIF rotation, scales to cover the target and crops the centre, and flattens transparency for JPEG.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

from PIL import Image, ImageOps

from mimio_core.catalogue import parse_size
from mimio_core.domain import CheckedReference
from mimio_core.media import flatten_transparency

PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class FittedReference:
    reference: CheckedReference
    original_size: tuple[int, int]  # as displayed, after EXIF rotation
    target_size: tuple[int, int]

    @property
    def changed(self) -> bool:
        return self.original_size != self.target_size


def fit_reference(reference: CheckedReference, size: str) -> FittedReference:
    """The reference at exactly `size` ("WIDTHxHEIGHT"); videos and exact-size images pass unchanged."""
    target = parse_size(size)
    if reference.kind != "image":
        return FittedReference(reference, target, target)
    with Image.open(io.BytesIO(reference.data)) as opened:
        rotated = opened.getexif().get(0x0112, 1) not in (1, None)
        image = ImageOps.exif_transpose(opened)
        original = image.size
        if original == target and not rotated and image.mode in ("RGB", "RGBA", "L"):
            return FittedReference(reference, original, target)
        fitted = ImageOps.fit(image, target, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    image_format = PIL_FORMATS[reference.mime]
    if image_format == "JPEG" and fitted.mode not in ("RGB", "L"):
        fitted = flatten_transparency(fitted)  # JPEG has no alpha
    elif fitted.mode not in ("RGB", "RGBA", "L"):  # CMYK, palette, 16-bit: what providers decode everywhere
        fitted = fitted.convert(
            "RGBA" if "A" in fitted.getbands() or "transparency" in fitted.info else "RGB"
        )
    buffer = io.BytesIO()
    fitted.save(buffer, image_format, **({"quality": 92} if image_format in ("JPEG", "WEBP") else {}))
    return FittedReference(replace(reference, data=buffer.getvalue()), original, target)
