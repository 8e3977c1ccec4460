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
* HEIC/HEIF (what iPhones save) is read through pillow-heif, AVIF through
  Pillow's own plugin; both are decoded and stripped like any other format.
* Besides the display variant and the square thumbnail, each photo is stored
  at ``RESPONSIVE_WIDTHS`` (never wider than it is) in ``MODERN_FORMAT``,
  with a JPEG of each width for browsers without it, for ``srcset``. The
  formats and qualities were chosen by measurement (``bench/image_formats.py``,
  the README's table).
* A BlurHash of each photo (a few dozen characters) stands in for it while
  it loads.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import threading
import time
import warnings
from dataclasses import dataclass
from typing import cast

import blurhash
import pillow_heif
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# HEIC/HEIF through libheif. Opened as "HEIF"; what it may write is irrelevant
# (only Pillow's own encoders write here).
pillow_heif.register_heif_opener()

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
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "HEIF", "AVIF")
# Pillow reports a JPEG carrying a multi-picture (MPO) header as "MPO"; it is a JPEG.
DECODED_AS = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "PNG": "PNG",
    "GIF": "GIF",
    "WEBP": "WEBP",
    "HEIF": "HEIF",
    "AVIF": "AVIF",
}
ACCEPTED_NAMES = "JPEG, PNG, GIF, WebP, HEIC or AVIF"

JPEG_QUALITY = {"original": 92, "display": 85, "thumb": 80, "responsive": 82, "avatar": 85}
WEBP_QUALITY = {"original": 92, "display": 85, "thumb": 80, "responsive": 80, "avatar": 85}

# The widths srcset offers: a phone's column (320, 640 at 2×), a desktop
# column (1080) and a large or 4K screen (2048). A photo narrower than one of
# them stops at its own width: nothing is ever upscaled.
RESPONSIVE_WIDTHS = (320, 640, 1080, 2048)
MODERN_FORMAT = "webp"
# The placeholder: 4×3 components of a small copy (``blurhash_of``).
BLURHASH_COMPONENTS = (4, 3)
BLURHASH_SOURCE_SIDE = 32


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


class CropOutside(ImageRejected):
    """The square chosen for an avatar does not lie inside the photo."""

    status = 400


@dataclass(frozen=True)
class SquareCrop:
    """A square of the upright photo, in its pixels: where an avatar is cut from."""

    left: int
    top: int
    side: int


@dataclass(frozen=True)
class EncodedImage:
    """One stored file: its bytes and what a browser needs to know about it."""

    data: bytes
    width: int
    height: int
    extension: str  # without the dot: "jpg" or "webp"
    content_type: str


@dataclass(frozen=True)
class ResponsiveVariant:
    """One width of ``srcset``: the modern file, and its JPEG (None when the photo
    keeps transparency, which JPEG cannot: the modern file is all there is)."""

    width: int
    modern: EncodedImage
    fallback: EncodedImage | None


@dataclass(frozen=True)
class ProcessedImage:
    """The cleaned full-size original and the variants made from it."""

    source_format: str
    original: EncodedImage
    display: EncodedImage
    thumb: EncodedImage
    responsive: tuple[ResponsiveVariant, ...] = ()
    blurhash: str = ""


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
        responsive=tuple(_responsive(clean, keeps_alpha)),
        blurhash=blurhash_of(thumb),
    )


def process_avatar(
    data: bytes, crop: SquareCrop | None, sizes: tuple[int, ...]
) -> dict[int, EncodedImage]:
    """Decode ``data`` as ``process`` does, cut the square ``crop`` (the centre
    when None) and make one file per size in ``sizes``.

    The square is in the pixels of the upright photo, as a browser shows it
    (EXIF orientation applied), which is what the crop the person chose
    measured. Raises ``ImageRejected`` (``CropOutside`` for a bad square).
    """
    image, _ = _open(data)
    with image:
        clean = _clean_pixels(_upright(image))
    width, height = clean.size
    if crop is None:
        side = min(width, height)
        crop = SquareCrop(left=(width - side) // 2, top=(height - side) // 2, side=side)
    elif (
        crop.side < 1
        or crop.left < 0
        or crop.top < 0
        or crop.left + crop.side > width
        or crop.top + crop.side > height
    ):
        raise CropOutside(
            f"The chosen square must lie inside the photo ({width} × {height} pixels)."
        )
    square = clean.crop((crop.left, crop.top, crop.left + crop.side, crop.top + crop.side))
    keeps_alpha = square.mode == "RGBA"
    files: dict[int, EncodedImage] = {}
    for size in sizes:
        resized = square.resize((size, size), Image.Resampling.LANCZOS)
        files[size] = _encode(resized, "avatar", keeps_alpha)
    return files


LOW_PRIORITY_NICENESS = 10
PARENT_CHECK_SECONDS = 1.0


def run_at_low_priority(parent_pid: int) -> None:
    """The imaging process's start: requests get the CPU first, and it dies with
    ``parent_pid``, the web process that started it.

    A process pool's worker waits on a pipe that it holds both ends of, so the
    death of the web process (a crash, SIGKILL) would never end it: a thread
    notices that its parent is no longer ``parent_pid`` (already at the start,
    if the parent died while it was being spawned) and exits.
    """
    with contextlib.suppress(OSError):  # not allowed (or not Unix): run as it is
        os.nice(LOW_PRIORITY_NICENESS)

    def exit_with_parent() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=exit_with_parent, name="exit-with-parent", daemon=True).start()


def responsive_widths(width: int) -> list[int]:
    """The ``RESPONSIVE_WIDTHS`` a photo ``width`` pixels wide is stored at (no upscaling)."""
    widths = [w for w in RESPONSIVE_WIDTHS if w < width]
    if width <= RESPONSIVE_WIDTHS[-1]:
        widths.append(width)
    return widths


def _responsive(clean: Image.Image, keeps_alpha: bool) -> list[ResponsiveVariant]:
    variants = []
    # Largest first, each made from the one before: a 12-megapixel photo is
    # read once at full size, not once per width.
    source = clean
    for width in sorted(responsive_widths(clean.width), reverse=True):
        # The height from the full-size photo, so rounding never builds up.
        height = max(1, round(clean.height * width / clean.width))
        if (width, height) == source.size:
            resized = source
        else:
            resized = source.resize((width, height), Image.Resampling.LANCZOS)
        variants.append(
            ResponsiveVariant(
                width=width,
                modern=_encode_as(resized, MODERN_FORMAT, "responsive"),
                fallback=None if keeps_alpha else _encode_as(resized, "jpeg", "responsive"),
            )
        )
        source = resized
    return sorted(variants, key=lambda variant: variant.width)


def blurhash_of(image: Image.Image) -> str:
    """A BlurHash of ``image``: painted while the photo loads (static/js/placeholders.js)."""
    small = image.convert("RGB")
    small.thumbnail((BLURHASH_SOURCE_SIDE, BLURHASH_SOURCE_SIDE), Image.Resampling.BILINEAR)
    pixels = list(small.get_flattened_data())
    rows = [pixels[row * small.width : (row + 1) * small.width] for row in range(small.height)]
    x_components, y_components = BLURHASH_COMPONENTS
    return str(blurhash.encode(rows, components_x=x_components, components_y=y_components))


def upright_pixels(data: bytes) -> Image.Image:
    """The photo's pixels as they are stored: decoded, oriented, sRGB, no metadata.

    The pipeline's first half, for measurements (``bench/image_formats.py``).
    """
    image, _ = _open(data)
    with image:
        return _clean_pixels(_upright(image))


def _open(data: bytes) -> tuple[Image.Image, str]:
    if not data:
        raise UnsupportedImage("The file is empty.")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as error:
        raise TooManyPixels(_too_many_pixels_message()) from error
    except (UnidentifiedImageError, SyntaxError, ValueError, OSError) as error:
        raise UnsupportedImage(
            f"This file is not an image we accept: upload a {ACCEPTED_NAMES} picture."
        ) from error
    source_format = DECODED_AS.get(image.format or "", "")
    if not source_format:
        image.close()
        raise UnsupportedImage(f"Upload a {ACCEPTED_NAMES} picture.")
    if source_format in ("HEIF", "AVIF") and not _boxes_complete(data):
        # libheif fills the tiles of a cut-off file with grey instead of failing.
        image.close()
        raise DamagedImage(_DAMAGED_MESSAGE)
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
        raise DamagedImage(_DAMAGED_MESSAGE) from error
    return image, source_format


_DAMAGED_MESSAGE = (
    "The image file is damaged or incomplete (was the upload cut off?). Please try another copy."
)


def _boxes_complete(data: bytes) -> bool:
    """Whether the top-level boxes of an ISO media file (HEIF, AVIF) fill it exactly.

    Each box starts with its size; a file cut short ends inside its last box
    (usually ``mdat``, the pixels), so that box claims more bytes than remain.
    """
    offset = 0
    while offset < len(data):
        if len(data) - offset < 8:
            return False
        size = int.from_bytes(data[offset : offset + 4], "big")
        header = 8
        if size == 1:  # a 64-bit size follows the type
            if len(data) - offset < 16:
                return False
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
            header = 16
        elif size == 0:  # the box runs to the end of the file
            return True
        if size < header or offset + size > len(data):
            return False
        offset += size
    return True


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
    return _encode_as(image, "webp" if keeps_alpha else "jpeg", variant)


def _encode_as(image: Image.Image, file_format: str, variant: str) -> EncodedImage:
    buffer = io.BytesIO()
    image.info.clear()
    if file_format == "webp":
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
