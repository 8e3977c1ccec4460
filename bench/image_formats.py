"""How the responsive variants' formats and qualities were chosen: bytes, encode time, fidelity.

    .venv/bin/python bench/image_formats.py PHOTO [PHOTO...]

For each photo (a phone photo is the case that matters: the README's table
used pillow_heif's own ``pug.heic``, a 12-megapixel iPhone photo, see
tests/data/README.md) and each width Gallery stores, this encodes the
variant as JPEG, WebP and AVIF at a few qualities and prints the size, the
encode time (one thread, this machine) and the PSNR against the resized
source. Compare rows of similar PSNR: the cheapest format to reach a fidelity
is the one worth storing. Not a test: nothing here is asserted.
"""

from __future__ import annotations

import io
import math
import sys
import time
from pathlib import Path

from PIL import Image, ImageChops, ImageStat

from gallery import imaging

CANDIDATES: list[tuple[str, dict[str, object]]] = [
    ("JPEG", {"quality": 75, "optimize": True, "progressive": True}),
    ("JPEG", {"quality": 82, "optimize": True, "progressive": True}),
    ("JPEG", {"quality": 90, "optimize": True, "progressive": True}),
    ("WEBP", {"quality": 75, "method": 4}),
    ("WEBP", {"quality": 82, "method": 4}),
    ("AVIF", {"quality": 50, "speed": 8}),
    ("AVIF", {"quality": 60, "speed": 8}),
    ("AVIF", {"quality": 60, "speed": 6}),
]


def psnr(reference: Image.Image, decoded: Image.Image) -> float:
    difference = ImageChops.difference(reference, decoded.convert("RGB"))
    mean_square = sum(v * v for v in ImageStat.Stat(difference).rms) / 3
    return float("inf") if mean_square == 0 else 20 * math.log10(255 / math.sqrt(mean_square))


def measure(path: Path) -> None:
    source = imaging.upright_pixels(path.read_bytes())
    print(f"\n{path.name}: {source.width}×{source.height}")
    print(f"{'width':>6} {'format':<22} {'bytes':>9} {'encode ms':>10} {'PSNR dB':>8}")
    for width in imaging.RESPONSIVE_WIDTHS:
        if width > source.width:
            continue
        resized = source.copy()
        resized.thumbnail((width, width * 10), Image.Resampling.LANCZOS)
        for name, options in CANDIDATES:
            buffer = io.BytesIO()
            started = time.perf_counter()
            resized.save(buffer, name, **options)
            elapsed = (time.perf_counter() - started) * 1000
            decoded = Image.open(io.BytesIO(buffer.getvalue()))
            label = f"{name} q{options['quality']}" + (
                f" speed {options['speed']}" if "speed" in options else ""
            )
            print(
                f"{width:>6} {label:<22} {len(buffer.getvalue()):>9} {elapsed:>10.0f} "
                f"{psnr(resized, decoded):>8.2f}"
            )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for argument in sys.argv[1:]:
        measure(Path(argument))
