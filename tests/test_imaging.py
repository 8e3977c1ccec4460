"""The image pipeline (``gallery.imaging``) against real-world files and built ones.

The real files live in ``/work/shared/images`` (from Pillow's own test suite);
its README says what a photo site must do with each, and the tables below
follow it. Everything else is built in memory with Pillow.
"""

from __future__ import annotations

import io
import re
import resource
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from gallery.imaging import (
    DISPLAY_MAX_SIDE,
    MAX_PIXELS,
    THUMB_MAX_SIDE,
    DamagedImage,
    EncodedImage,
    ImageRejected,
    ProcessedImage,
    TooManyPixels,
    UnsupportedImage,
    process,
)
from tests.images import SHARED_IMAGES

IMAGES = SHARED_IMAGES

# Pillow's own complaints about the quirky files; ``gallery.imaging`` silences the
# bomb warning process-wide, but pytest resets warning filters for every test.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Corrupt EXIF data"),
    pytest.mark.filterwarnings("ignore:Image appears to be a malformed MPO file"),
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]

ACCEPTED = [
    "hopper.jpg",
    "hopper.png",
    "hopper.gif",
    "hopper.webp",
    "hopper_gray.jpg",
    "hopper_orientation_2.jpg",
    "hopper_orientation_3.jpg",
    "hopper_orientation_5.jpg",
    "hopper_orientation_6.jpg",
    "hopper_orientation_8.jpg",
    "orientation_rectangle.jpg",
    "exif_gps.jpg",
    "iptc.jpg",
    "icc_profile_big.jpg",
    "pil_sample_cmyk.jpg",
    "pil123rgba.png",
    "iss634.gif",
    "flower.webp",
    "hopper_16bit_qtables.jpg",
    "junk_jpeg_header.jpg",
    "invalid-exif.jpg",
    "hopper_bad_exif.jpg",
    "sugarshack_bad_mpo_header.jpg",
]
# file -> (the refusal it must get, its HTTP status)
REFUSED: dict[str, tuple[type[ImageRejected], int]] = {
    "truncated_jpeg.jpg": (DamagedImage, 422),
    "truncated_image.png": (DamagedImage, 422),
    "broken.png": (UnsupportedImage, 415),
    "decompression_bomb.gif": (TooManyPixels, 422),
}
# Accepting safely and refusing are both fine for these.
EITHER = ["decompression_bomb_extents.gif"]

ORIENTATIONS = [2, 3, 5, 6, 8]
EXIF_ORIENTATION = 0x0112
EXIF_GPS_IFD = 0x8825
METADATA_INFO_KEYS = {"exif", "icc_profile", "xmp", "photoshop", "comment"}
SOURCE_FORMAT_BY_SUFFIX = {".jpg": "JPEG", ".png": "PNG", ".gif": "GIF", ".webp": "WEBP"}
STORED_FORMAT = {"jpg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


# --- helpers -------------------------------------------------------------------------------------


def _images_folder() -> Path:
    if not IMAGES.is_dir():
        pytest.fail(
            f"The shared test images are missing: expected the folder {IMAGES} "
            "(see /work/shared/images/README.md). These tests never skip."
        )
    return IMAGES


def _read(name: str) -> bytes:
    path = _images_folder() / name
    if not path.is_file():
        pytest.fail(f"The shared test image {path} is missing.")
    return path.read_bytes()


def _open_shared(name: str) -> Image.Image:
    return Image.open(io.BytesIO(_read(name)))


def _decode(encoded: EncodedImage) -> Image.Image:
    image = Image.open(io.BytesIO(encoded.data))
    image.load()
    return image


def _encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def _variants(result: ProcessedImage) -> dict[str, EncodedImage]:
    return {"original": result.original, "display": result.display, "thumb": result.thumb}


def _mean_difference(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference per RGB channel, 0 (same) to 255."""
    difference = ImageChops.difference(first.convert("RGB"), second.convert("RGB"))
    return sum(ImageStat.Stat(difference).mean) / 3


def _jpeg_header_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment from SOI up to the first scan."""
    assert data[:2] == b"\xff\xd8", "not a JPEG stream"
    segments: list[tuple[int, bytes]] = []
    position = 2
    while position < len(data):
        assert data[position] == 0xFF, f"no marker at byte {position}"
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        segments.append((marker, data[position + 4 : position + 2 + length]))
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        position += 2 + length
    return segments


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(fourcc, payload) of every chunk of a RIFF WebP file."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", "not a WebP file"
    chunks: list[tuple[bytes, bytes]] = []
    position = 12
    while position + 8 <= len(data):
        fourcc = data[position : position + 4]
        (size,) = struct.unpack("<I", data[position + 4 : position + 8])
        chunks.append((fourcc, data[position + 8 : position + 8 + size]))
        position += 8 + size + (size & 1)
    return chunks


def _assert_no_metadata(encoded: EncodedImage) -> None:
    image = _decode(encoded)
    assert not image.getexif(), f"EXIF left in the stored file: {dict(image.getexif())}"
    assert not METADATA_INFO_KEYS & image.info.keys(), f"metadata left: {sorted(image.info)}"
    assert b"Exif\x00\x00" not in encoded.data
    if encoded.extension == "jpg":
        for marker, payload in _jpeg_header_segments(encoded.data):
            assert marker != 0xFE, "a JPEG comment (COM) was stored"
            if 0xE0 <= marker <= 0xEF:
                assert marker == 0xE0 and payload.startswith(b"JFIF\x00"), (
                    f"an APP{marker - 0xE0} block was stored: {payload[:16]!r}"
                )
    else:
        chunks = _webp_chunks(encoded.data)
        names = {fourcc for fourcc, _ in chunks}
        assert names <= {b"VP8X", b"VP8 ", b"VP8L", b"ALPH"}, f"WebP chunks: {names}"
        for fourcc, payload in chunks:
            if fourcc == b"VP8X":
                flags = payload[0]
                assert not flags & 0x20, "ICC flag set"
                assert not flags & 0x08, "EXIF flag set"
                assert not flags & 0x04, "XMP flag set"
                assert not flags & 0x02, "animation flag set"


def _assert_well_formed(encoded: EncodedImage) -> Image.Image:
    """The bytes decode as what the record says; returns the decoded image."""
    assert encoded.extension in STORED_FORMAT
    image_format, content_type = STORED_FORMAT[encoded.extension]
    assert encoded.content_type == content_type
    image = _decode(encoded)
    assert image.format == image_format
    assert image.size == (encoded.width, encoded.height)
    assert image.mode == ("RGBA" if encoded.extension == "webp" else "RGB")
    assert getattr(image, "n_frames", 1) == 1
    return image


def _assert_refused(data: bytes, expected: type[ImageRejected], status: int) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        process(data)
    error = caught.value
    assert type(error) is expected, f"{type(error).__name__}: {error.message}"
    assert error.status == status
    assert error.message.strip()
    assert str(error) == error.message
    return error


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports kilobytes


def _expand_readme_names(cell: str) -> list[str]:
    """``hopper_orientation_2/3/5.jpg (note)`` -> the file names it stands for."""
    names: list[str] = []
    for word in re.findall(r"[\w./-]+\.(?:jpg|png|gif|webp)", cell):
        shorthand = re.fullmatch(r"(.*_)(\d+(?:/\d+)+)(\.\w+)", word)
        if shorthand:
            prefix, numbers, suffix = shorthand.groups()
            names += [f"{prefix}{number}{suffix}" for number in numbers.split("/")]
        else:
            names.append(word)
    return names


# --- the README table ----------------------------------------------------------------------------


def test_tables_cover_the_shared_images_and_follow_the_readme() -> None:
    folder = _images_folder()
    on_disk = {p.name for p in folder.iterdir() if p.suffix in SOURCE_FORMAT_BY_SUFFIX}
    covered = set(ACCEPTED) | set(REFUSED) | set(EITHER)
    assert on_disk == covered, f"not covered: {on_disk - covered}; gone: {covered - on_disk}"

    verdicts: dict[str, str] = {}
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and not set(cells[0]) <= set("-") and cells[0] != "file":
            for name in _expand_readme_names(cells[0]):
                verdicts[name] = cells[2]
    assert set(verdicts) == covered
    for name in ACCEPTED:
        assert verdicts[name].startswith("accept"), (name, verdicts[name])
    for name in REFUSED:
        assert verdicts[name].startswith("refuse"), (name, verdicts[name])
    for name in EITHER:
        assert "accept" in verdicts[name] and "refuse" in verdicts[name]


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_image_gives_three_well_formed_variants(name: str) -> None:
    result = process(_read(name))

    assert result.source_format == SOURCE_FORMAT_BY_SUFFIX[Path(name).suffix]
    for variant in _variants(result).values():
        _assert_well_formed(variant)
    extensions = {variant.extension for variant in _variants(result).values()}
    assert len(extensions) == 1, "all variants of one image are stored in one format"
    # The original keeps the full (upright) size: no upscaling, no cropping.
    source = _open_shared(name)
    assert (result.original.width, result.original.height) == ImageOps.exif_transpose(source).size
    assert max(result.display.width, result.display.height) <= DISPLAY_MAX_SIDE
    assert result.thumb.width == result.thumb.height <= THUMB_MAX_SIDE


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_image_is_stored_without_any_metadata(name: str) -> None:
    result = process(_read(name))

    for variant in _variants(result).values():
        _assert_no_metadata(variant)


@pytest.mark.parametrize(("name", "expected", "status"), [(k, *v) for k, v in REFUSED.items()])
def test_refused_image_gets_the_right_refusal(
    name: str, expected: type[ImageRejected], status: int
) -> None:
    _assert_refused(_read(name), expected, status)


@pytest.mark.parametrize("name", EITHER)
def test_frame_extents_outside_the_canvas_are_handled_safely(name: str) -> None:
    before = _peak_rss_bytes()
    try:
        result = process(_read(name))
    except ImageRejected as error:
        assert error.status in (400, 415, 422)
        assert error.message.strip()
    else:
        for variant in _variants(result).values():
            _assert_well_formed(variant)
        assert result.original.width * result.original.height <= MAX_PIXELS
    assert _peak_rss_bytes() - before < 100 * 2**20


# --- metadata, orientation, colour ---------------------------------------------------------------


def test_gps_position_of_a_photo_is_not_stored() -> None:
    source = _open_shared("exif_gps.jpg")
    assert source.getexif().get_ifd(EXIF_GPS_IFD), "the test file should carry a GPS block"

    result = process(_read("exif_gps.jpg"))

    for variant in _variants(result).values():
        stored = _decode(variant)
        assert not stored.getexif().get_ifd(EXIF_GPS_IFD)
        assert not stored.getexif()
        assert b"Exif" not in variant.data


@pytest.mark.parametrize(
    ("name", "info_key"),
    [
        ("exif_gps.jpg", "exif"),
        ("iptc.jpg", "photoshop"),
        ("icc_profile_big.jpg", "icc_profile"),
        ("pil_sample_cmyk.jpg", "xmp"),
        ("hopper_gray.jpg", "comment"),
    ],
)
def test_metadata_block_of_the_source_is_dropped(name: str, info_key: str) -> None:
    assert info_key in _open_shared(name).info, f"{name} should carry {info_key!r}"

    result = process(_read(name))

    for variant in _variants(result).values():
        assert info_key not in _decode(variant).info


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_exif_orientation_is_applied_to_the_pixels(orientation: int) -> None:
    name = f"hopper_orientation_{orientation}.jpg"
    source = _open_shared(name)
    assert source.getexif().get(EXIF_ORIENTATION) == orientation
    upright = ImageOps.exif_transpose(source)

    result = process(_read(name))

    stored = _decode(result.original)
    assert EXIF_ORIENTATION not in stored.getexif()
    assert stored.size == upright.size
    assert _mean_difference(stored, upright) < 3
    # The check can tell: the file's pixels as stored on disk are far from upright...
    assert _mean_difference(stored, _open_shared(name)) > 20
    # ...and upright they are the plain hopper picture.
    assert _mean_difference(stored, _open_shared("hopper.jpg")) < 8
    assert _mean_difference(_decode(result.display), upright) < 3


def test_orientation_turns_a_wide_image_into_a_tall_one() -> None:
    source = _open_shared("orientation_rectangle.jpg")
    assert source.size == (2, 1)
    assert source.getexif().get(EXIF_ORIENTATION) == 8

    result = process(_read("orientation_rectangle.jpg"))

    assert (result.original.width, result.original.height) == (1, 2)
    assert (result.display.width, result.display.height) == (1, 2)
    assert (result.thumb.width, result.thumb.height) == (1, 1)
    stored = _assert_well_formed(result.original)
    assert stored.size == (1, 2)
    assert EXIF_ORIENTATION not in stored.getexif()


def test_cmyk_jpeg_is_stored_as_rgb_with_its_colours() -> None:
    source = _open_shared("pil_sample_cmyk.jpg")
    assert source.mode == "CMYK"

    result = process(_read("pil_sample_cmyk.jpg"))

    for variant in _variants(result).values():
        assert variant.extension == "jpg"
        assert _decode(variant).mode == "RGB"
    # Not inverted or garbled: close to Pillow's own reading of the file.
    assert _mean_difference(_decode(result.original), source.convert("RGB")) < 20


def test_big_icc_profile_is_applied_then_dropped() -> None:
    source = _open_shared("icc_profile_big.jpg")
    assert len(source.info["icc_profile"]) > 300_000

    result = process(_read("icc_profile_big.jpg"))

    assert len(result.original.data) < len(_read("icc_profile_big.jpg")) // 2
    assert _mean_difference(_decode(result.original), source) < 20


def test_grey_jpeg_is_accepted_and_stays_grey() -> None:
    source = _open_shared("hopper_gray.jpg")
    assert source.mode == "L"

    result = process(_read("hopper_gray.jpg"))

    stored = _assert_well_formed(result.original)
    red, green, blue = stored.split()
    assert ImageChops.difference(red, green).getextrema()[1] <= 3
    assert ImageChops.difference(red, blue).getextrema()[1] <= 3
    assert _mean_difference(stored, source) < 3


def test_sixteen_bit_grey_png_is_scaled_not_clipped() -> None:
    data = _encode(Image.new("I;16", (20, 10), 40_000), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"

    result = process(data)

    grey = _decode(result.original).convert("L")
    low, high = grey.getextrema()  # type: ignore[misc]
    assert 150 <= low <= high <= 162  # 40 000 / 256 ≈ 156, not clipped to 255


def test_jpeg_with_multi_picture_header_is_accepted_as_its_first_picture() -> None:
    left = Image.new("RGB", (40, 30), RED)
    right = Image.new("RGB", (40, 30), BLUE)
    data = _encode(left, "MPO", save_all=True, append_images=[right])
    assert Image.open(io.BytesIO(data)).format == "MPO"

    result = process(data)

    assert result.source_format == "JPEG"
    assert _mean_difference(_decode(result.original), left) < 3


# --- transparency --------------------------------------------------------------------------------


def test_png_with_alpha_keeps_its_transparency_as_webp() -> None:
    source = _open_shared("pil123rgba.png")
    assert source.mode == "RGBA"

    result = process(_read("pil123rgba.png"))

    for variant in _variants(result).values():
        assert (variant.extension, variant.content_type) == ("webp", "image/webp")
        stored = _assert_well_formed(variant)
        assert stored.mode == "RGBA"
        assert stored.getchannel("A").getextrema()[0] < 255
    alpha_difference = ImageChops.difference(
        _decode(result.original).getchannel("A"), source.getchannel("A")
    )
    assert ImageStat.Stat(alpha_difference).mean[0] < 2


@pytest.mark.parametrize(("mode", "colour"), [("RGBA", (20, 120, 220, 255)), ("LA", (90, 255))])
def test_fully_opaque_alpha_channel_is_dropped_and_stored_as_jpeg(
    mode: str, colour: tuple[int, ...]
) -> None:
    data = _encode(Image.new(mode, (60, 40), colour), "PNG")
    assert Image.open(io.BytesIO(data)).mode == mode

    result = process(data)

    for variant in _variants(result).values():
        assert (variant.extension, variant.content_type) == ("jpg", "image/jpeg")
        assert _assert_well_formed(variant).mode == "RGB"


def test_one_transparent_pixel_is_enough_to_keep_alpha() -> None:
    image = Image.new("RGBA", (60, 40), (20, 120, 220, 255))
    image.putpixel((0, 0), (20, 120, 220, 0))

    result = process(_encode(image, "PNG"))

    assert result.original.extension == "webp"
    assert _decode(result.original).getpixel((0, 0))[3] == 0  # type: ignore[index]


def _keyed_rgb_png() -> bytes:
    image = Image.new("RGB", (40, 40), (0, 0, 0))
    image.paste((200, 30, 30), (10, 10, 30, 30))
    return _encode(image, "PNG", transparency=(0, 0, 0))


def _keyed_grey_png() -> bytes:
    image = Image.new("L", (40, 40), 0)
    image.paste(200, (10, 10, 30, 30))
    return _encode(image, "PNG", transparency=0)


def _transparent_gif() -> bytes:
    image = Image.new("P", (40, 40), 0)
    image.putpalette([0, 0, 0, 200, 30, 30] + [0, 0, 0] * 254)
    image.paste(1, (10, 10, 30, 30))
    return _encode(image, "GIF", transparency=0)


@pytest.mark.parametrize("make", [_keyed_rgb_png, _keyed_grey_png, _transparent_gif])
def test_colour_key_transparency_is_kept(make: Callable[[], bytes]) -> None:
    # PNG (tRNS) and GIF transparency: one colour or palette entry stands for "see-through".
    data = make()
    assert "transparency" in Image.open(io.BytesIO(data)).info

    result = process(data)

    stored = _assert_well_formed(result.original)
    assert result.original.extension == "webp"
    assert stored.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert stored.getpixel((20, 20))[3] == 255  # type: ignore[index]


def test_unused_colour_key_is_stored_as_jpeg() -> None:
    image = Image.new("RGB", (40, 40), (200, 30, 30))
    data = _encode(image, "PNG", transparency=(0, 0, 0))  # no black pixel anywhere

    result = process(data)

    assert result.original.extension == "jpg"


# --- animations ----------------------------------------------------------------------------------


def test_animated_gif_gives_a_still_of_its_first_frame() -> None:
    source = _open_shared("iss634.gif")
    assert source.n_frames == 42
    first_frame = source.convert("RGB")

    result = process(_read("iss634.gif"))

    assert result.source_format == "GIF"
    for variant in _variants(result).values():
        _assert_well_formed(variant)  # one frame, JPEG or WebP
    assert _mean_difference(_decode(result.original), first_frame) < 5


@pytest.mark.parametrize("source_format", ["GIF", "PNG", "WEBP"])
def test_animation_keeps_its_first_frame(source_format: str) -> None:
    frames = [Image.new("RGB", (30, 20), colour) for colour in (RED, GREEN, BLUE)]
    data = _encode(frames[0], source_format, save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 3

    result = process(data)

    stored = _assert_well_formed(result.original)
    assert _mean_difference(stored, frames[0]) < 3


# --- sizes of the variants -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "source_format"),
    [
        (3000, 2000, "JPEG"),
        (500, 4000, "PNG"),
        (10, 10, "PNG"),
        (1080, 1080, "JPEG"),
        (1081, 399, "PNG"),
        (700, 450, "WEBP"),
        (2400, 3, "PNG"),
    ],
)
def test_variants_are_scaled_within_their_limits(
    width: int, height: int, source_format: str
) -> None:
    data = _encode(Image.new("RGB", (width, height), (90, 140, 40)), source_format)

    result = process(data)

    for variant in _variants(result).values():
        _assert_well_formed(variant)  # recorded sizes are those of the encoded bytes
    assert (result.original.width, result.original.height) == (width, height)

    display_side = min(DISPLAY_MAX_SIDE, max(width, height))  # never upscaled
    scale = display_side / max(width, height)
    display = result.display
    assert max(display.width, display.height) == display_side
    assert abs(display.width - width * scale) <= 1
    assert abs(display.height - height * scale) <= 1
    assert min(display.width, display.height) >= 1

    side = min(THUMB_MAX_SIDE, display.width, display.height)
    assert (result.thumb.width, result.thumb.height) == (side, side)


def test_thumbnail_is_a_centre_crop_not_a_squash() -> None:
    image = Image.new("RGB", (3000, 1000), RED)
    image.paste(GREEN, (1000, 0, 2000, 1000))

    result = process(_encode(image, "PNG"))

    assert (result.display.width, result.display.height) == (1080, 360)
    thumb = _decode(result.thumb)
    assert thumb.size == (360, 360)
    assert _mean_difference(thumb, Image.new("RGB", thumb.size, GREEN)) < 4


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, I am a text file that somebody named holiday.jpg\n",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b'<rect width="10" height="10" fill="red"/></svg>',
        b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        bytes(range(256)) * 4,
    ],
    ids=["empty", "text", "svg", "html", "pdf-header", "binary-noise"],
)
def test_non_image_is_refused_as_unsupported(data: bytes) -> None:
    _assert_refused(data, UnsupportedImage, 415)


@pytest.mark.parametrize("image_format", ["BMP", "TIFF", "ICO", "PPM", "TGA"])
def test_real_image_in_a_format_we_do_not_store_is_refused(image_format: str) -> None:
    data = _encode(_open_shared("hopper.png").convert("RGB"), image_format)
    assert Image.open(io.BytesIO(data)).format == image_format  # Pillow could read it

    error = _assert_refused(data, UnsupportedImage, 415)

    assert "JPEG" in error.message


@pytest.mark.parametrize("name", ["hopper.jpg", "hopper.png", "hopper.gif"])
@pytest.mark.parametrize("kept", [0.5, 0.9])
def test_cut_off_upload_is_refused_as_damaged(name: str, kept: float) -> None:
    data = _read(name)

    _assert_refused(data[: int(len(data) * kept)], DamagedImage, 422)


@pytest.mark.parametrize("name", ["hopper.jpg", "hopper.png", "hopper.gif", "hopper.webp"])
@pytest.mark.parametrize("cut", ["header", "half"])
def test_any_cut_off_upload_is_refused(name: str, cut: str) -> None:
    data = _read(name)
    kept = data[:16] if cut == "header" else data[: len(data) // 2]

    with pytest.raises(ImageRejected) as caught:
        process(kept)

    assert caught.value.status in (400, 415, 422)
    assert caught.value.message.strip()


def test_decompression_bomb_is_refused_fast_without_a_memory_spike() -> None:
    data = _read("decompression_bomb.gif")
    assert len(data) < 100
    before = _peak_rss_bytes()
    started = time.perf_counter()

    _assert_refused(data, TooManyPixels, 422)

    assert time.perf_counter() - started < 1
    assert _peak_rss_bytes() - before < 100 * 2**20


@pytest.mark.parametrize(("width", "height"), [(8000, 5001), (9000, 9000)])
def test_too_many_pixels_are_refused_before_decoding(width: int, height: int) -> None:
    # A real PNG of one flat colour: tiny file, too many pixels (just over the limit,
    # and over twice the limit where Pillow's own guard trips first).
    assert width * height > MAX_PIXELS
    data = _encode(Image.new("1", (width, height), 1), "PNG")
    assert len(data) < 100_000
    before = _peak_rss_bytes()
    started = time.perf_counter()

    error = _assert_refused(data, TooManyPixels, 422)

    assert time.perf_counter() - started < 1
    assert _peak_rss_bytes() - before < 100 * 2**20
    assert str(MAX_PIXELS // 1_000_000) in error.message
