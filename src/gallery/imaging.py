"""Pure Pillow work: validate, orient, strip, resize. Synchronous; run it in a thread.

Everything here judges a file by decoding it, never by its name or declared
type. What comes out is re-encoded from pixels only, so no metadata block
(EXIF with GPS, IPTC, XMP, comments, ICC) survives: colour profiles are
applied first (converted to sRGB) and then dropped.

Decisions worth knowing:

* Animated GIFs and WebPs keep their **first frame** as a still image.
* Transparency is kept where an image really uses it (stored as WebP with
  alpha); an alpha channel that is fully opaque is dropped and the image
  stored as JPEG.
* Images of more than ``MAX_PIXELS`` pixels are refused before their pixels
  are decoded (decompression bombs).
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# Deliberate: 40 megapixels is more than any phone or most cameras produce,
# and at 4 bytes per pixel it bounds the memory one decode can take (~160 MB).
MAX_PIXELS = 40_000_000
# Pillow warns above this and refuses above twice this; we refuse at the limit
# ourselves (see ``_open``) and keep Pillow's own guard as a second line.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Between MAX_PIXELS and twice that Pillow only warns; ``_open`` refuses those
# itself. Filtered once here: ``warnings.catch_warnings`` is not thread-safe.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

DISPLAY_MAX_SIDE = 1080
THUMB_MAX_SIDE = 400
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
# Pillow reports a JPEG carrying a multi-picture (MPO) header as "MPO"; it is a JPEG.
DECODED_AS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "GIF": "GIF", "WEBP": "WEBP"}

JPEG_QUALITY = {"original": 92, "display": 85, "thumb": 80}
WEBP_QUALITY = {"original": 92, "display": 85, "thumb": 80}


class ImageRejected(Exception):
    """The upload is not an image we store; ``status`` is the HTTP status that says why."""

    status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedImage(ImageRejected):
    status = 415


class DamagedImage(ImageRejected):
    status = 422


class TooManyPixels(ImageRejected):
    status = 422


@dataclass(frozen=True)
class EncodedImage:
    """One stored file: its bytes and what a browser needs to know about it."""

    data: bytes
    width: int
    height: int
    extension: str  # without the dot: "jpg" or "webp"
    content_type: str


@dataclass(frozen=True)
class ProcessedImage:
    """The cleaned full-size original and the two variants made from it."""

    source_format: str
    original: EncodedImage
    display: EncodedImage
    thumb: EncodedImage


def process(data: bytes) -> ProcessedImage:
    """Decode ``data`` fully, orient it, strip it and produce the stored variants.

    Raises ``ImageRejected`` (or a subclass) with a message fit for the user.
    """
    image, source_format = _open(data)
    with image:
        upright = _upright(image)
        clean = _clean_pixels(upright)
    keeps_alpha = clean.mode == "RGBA"

    display = clean.copy()
    display.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE), Image.Resampling.LANCZOS)
    side = min(THUMB_MAX_SIDE, *display.size)
    thumb = ImageOps.fit(display, (side, side), Image.Resampling.LANCZOS)

    return ProcessedImage(
        source_format=source_format,
        original=_encode(clean, "original", keeps_alpha),
        display=_encode(display, "display", keeps_alpha),
        thumb=_encode(thumb, "thumb", keeps_alpha),
    )


def _open(data: bytes) -> tuple[Image.Image, str]:
    if not data:
        raise UnsupportedImage("The file is empty.")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as error:
        raise TooManyPixels(_too_many_pixels_message()) from error
    except (UnidentifiedImageError, SyntaxError, ValueError, OSError) as error:
        raise UnsupportedImage(
            "This file is not an image we accept: upload a JPEG, PNG, GIF or WebP picture."
        ) from error
    source_format = DECODED_AS.get(image.format or "", "")
    if not source_format:
        image.close()
        raise UnsupportedImage("Upload a JPEG, PNG, GIF or WebP picture.")
    width, height = image.size
    if width < 1 or height < 1:
        image.close()
        raise DamagedImage("The image has no pixels.")
    if width * height > MAX_PIXELS:
        image.close()
        raise TooManyPixels(_too_many_pixels_message())
    try:
        image.seek(0)  # the first frame of an animation
        image.load()  # decode every pixel now: truncated or corrupt data fails here
    except Image.DecompressionBombError as error:
        image.close()
        raise TooManyPixels(_too_many_pixels_message()) from error
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
        image.close()
        raise DamagedImage(
            "The image file is damaged or incomplete (was the upload cut off?). "
            "Please try another copy."
        ) from error
    return image, source_format


def _too_many_pixels_message() -> str:
    megapixels = MAX_PIXELS // 1_000_000
    return f"The image has too many pixels: at most {megapixels} megapixels are accepted."


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; an unreadable EXIF block is ignored, not fatal."""
    try:
        rotated = ImageOps.exif_transpose(image)
    except (SyntaxError, ValueError, TypeError, KeyError, OSError, struct.error):
        return image
    return rotated if rotated is not None else image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert through the embedded ICC profile, so colours survive dropping it."""
    profile = image.info.get("icc_profile")
    if not profile or image.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return image
    output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        srgb = ImageCms.createProfile("sRGB")
        converted = ImageCms.profileToProfile(image, source, srgb, outputMode=output_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted if converted is not None else image


def _has_alpha(image: Image.Image) -> bool:
    # A "transparency" entry is a tRNS colour key: palette, grey and RGB PNGs and GIFs.
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode in ("1", "L", "P", "RGB") and "transparency" in image.info
    )


def _clean_pixels(image: Image.Image) -> Image.Image:
    """RGB, or RGBA where transparency is really used; sRGB; no metadata at all."""
    image = _to_srgb(image)
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        alpha_min, _ = cast(tuple[int, int], rgba.getchannel("A").getextrema())
        clean = rgba if alpha_min < 255 else rgba.convert("RGB")
    elif image.mode == "RGB":
        clean = image.copy()
    elif image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits instead of clipping at 255.
        clean = image.point(lambda value: value / 256).convert("L").convert("RGB")
    else:
        clean = image.convert("RGB")
    clean.info.clear()  # EXIF, XMP, ICC, comments, transparency: nothing is carried over
    return clean


def _encode(image: Image.Image, variant: str, keeps_alpha: bool) -> EncodedImage:
    buffer = io.BytesIO()
    image.info.clear()
    if keeps_alpha:
        image.save(buffer, "WEBP", quality=WEBP_QUALITY[variant], method=4)
        extension, content_type = "webp", "image/webp"
    else:
        image.save(buffer, "JPEG", quality=JPEG_QUALITY[variant], optimize=True, progressive=True)
        extension, content_type = "jpg", "image/jpeg"
    return EncodedImage(
        data=buffer.getvalue(),
        width=image.width,
        height=image.height,
        extension=extension,
        content_type=content_type,
    )
