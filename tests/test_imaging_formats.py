"""Phone formats, srcset widths and placeholders in the image pipeline (``gallery.imaging``).

The HEIC and AVIF files come from pillow_heif's and Pillow's own test suites
(tests/data/formats/README.md says which and where from).
"""

from __future__ import annotations

import io
from pathlib import Path

import blurhash
import pytest
from PIL import Image

from gallery import imaging
from gallery.imaging import (
    RESPONSIVE_WIDTHS,
    DamagedImage,
    EncodedImage,
    UnsupportedImage,
    process,
    responsive_widths,
)
from tests.images import jpeg_bytes

FORMATS = Path(__file__).parent / "data" / "formats"
PHONE_FILES = ["pug.heic", "exif.avif", "rot1mir0.avif", "xmp_tags_orientation.avif"]


def read(name: str) -> bytes:
    return (FORMATS / name).read_bytes()


def decoded(encoded: EncodedImage) -> Image.Image:
    image = Image.open(io.BytesIO(encoded.data))
    image.load()
    return image


def assert_no_metadata(encoded: EncodedImage) -> None:
    image = decoded(encoded)
    assert not image.getexif(), "EXIF survived"
    for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp"):
        assert key not in image.info, f"{key} survived"
    assert b"Exif\x00\x00" not in encoded.data
    assert b"http://ns.adobe.com/xap" not in encoded.data


@pytest.mark.parametrize("name", PHONE_FILES)
def test_phone_formats_are_decoded_and_stored_without_metadata(name: str) -> None:
    result = process(read(name))
    assert result.source_format in ("HEIF", "AVIF")
    files = [result.original, result.display, result.thumb]
    files += [v.modern for v in result.responsive] + [
        v.fallback for v in result.responsive if v.fallback
    ]
    for encoded in files:
        assert encoded.content_type in ("image/jpeg", "image/webp")
        assert_no_metadata(encoded)


def test_the_iphone_photos_gps_position_is_not_stored() -> None:
    source = Image.open(FORMATS / "pug.heic")
    assert source.getexif().get_ifd(0x8825), "the test file should carry a GPS block"
    result = process(read("pug.heic"))
    assert (result.original.width, result.original.height) == (4032, 3024)
    for encoded in (result.original, result.display):
        assert not decoded(encoded).getexif().get_ifd(0x8825)


def test_an_avif_turned_by_its_container_is_stored_upright() -> None:
    # Stored 427×640 with a rotation: the picture is a landscape, sky on top.
    result = process(read("rot1mir0.avif"))
    upright = decoded(result.original).convert("RGB")
    assert upright.size == (640, 427)
    top = upright.crop((0, 0, 640, 40)).resize((1, 1)).getpixel((0, 0))
    bottom = upright.crop((0, 387, 640, 427)).resize((1, 1)).getpixel((0, 0))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[2] > top[0] + 30, f"the top is not the sky: {top}"
    assert bottom[2] < bottom[0] + 10, f"the bottom is not the ground: {bottom}"


def test_an_avif_with_transparency_keeps_it() -> None:
    result = process(read("transparency.avif"))
    assert result.original.content_type == "image/webp"
    assert decoded(result.original).mode == "RGBA"
    # No JPEG can hold it: the srcset widths are WebP only.
    assert all(variant.fallback is None for variant in result.responsive)


def test_damaged_and_fake_phone_files_are_refused() -> None:
    with pytest.raises(UnsupportedImage):
        process(read("corrupted.heic"))
    with pytest.raises(UnsupportedImage):
        process(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64)  # a HEIC header and nothing else
    truncated = read("pug.heic")[:200_000]
    with pytest.raises((DamagedImage, UnsupportedImage)):
        process(truncated)


# -- srcset widths and placeholders --------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        (4032, [320, 640, 1080, 2048]),
        (2048, [320, 640, 1080, 2048]),
        (1500, [320, 640, 1080, 1500]),
        (640, [320, 640]),
        (100, [100]),
    ],
)
def test_srcset_widths_never_upscale(width: int, expected: list[int]) -> None:
    assert responsive_widths(width) == expected
    assert max(expected) <= max(width, 1)


def test_each_width_is_stored_in_webp_and_jpeg_at_its_size() -> None:
    result = process(jpeg_bytes(2400, 1600))
    assert [v.width for v in result.responsive] == list(RESPONSIVE_WIDTHS)
    for variant in result.responsive:
        assert variant.fallback is not None
        for encoded, content_type in (
            (variant.modern, "image/webp"),
            (variant.fallback, "image/jpeg"),
        ):
            image = decoded(encoded)
            assert encoded.content_type == content_type
            assert image.size == (variant.width, round(1600 * variant.width / 2400))
    # The modern format is the smaller one at every width (that is why it is there).
    for variant in result.responsive:
        assert variant.fallback is not None
        assert len(variant.modern.data) < len(variant.fallback.data)


def test_a_photo_gets_a_blurhash_of_its_colours() -> None:
    result = process(jpeg_bytes(300, 200, colour=(200, 40, 40)))
    assert 20 <= len(result.blurhash) <= 40
    pixels = blurhash.decode(result.blurhash, 4, 4)
    red, green, blue = pixels[2][2][:3]
    assert red > 150 and green < 90 and blue < 90


def test_upright_pixels_is_the_first_half_of_process() -> None:
    image = imaging.upright_pixels(read("rot1mir0.avif"))
    assert image.size == (640, 427) and image.mode == "RGB" and not image.info
