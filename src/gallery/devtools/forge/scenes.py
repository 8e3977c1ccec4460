"""Photo-like scenes drawn with Pillow, so forged images look like what people upload.

Real photographs would have to ship with the project (and be licensed); these
are drawn from a seed instead: mountains, sea, night sky, city, hills, dunes,
bokeh and abstract shapes, in common photo sizes, saved as JPEG. Pure and
synchronous: no I/O besides Pillow's own, so ``render_photo`` runs in a thread
and the same seed always gives the same bytes.
"""

from __future__ import annotations

import colorsys
import io
import itertools
import math
import random
from collections.abc import Callable, Sequence

from PIL import Image, ImageDraw, ImageFilter

Color = tuple[int, int, int]
Size = tuple[int, int]

# Common photo shapes: 4:3 and 3:4, 4:5 portrait, 2:1 panorama, square, 3:2, 16:9, 2:3.
SIZES: tuple[Size, ...] = (
    (1600, 1200), (1200, 1600), (1080, 1350), (2000, 1000), (800, 800),
    (1200, 800), (1280, 720), (1000, 1500), (1080, 1080), (1440, 960),
)  # fmt: skip
JPEG_QUALITY = 88


def render_photo(kind: str, seed: int) -> bytes:
    """A photo-like JPEG of a ``kind`` of scene (one of ``SCENE_KINDS``), the same for a seed."""
    rng = random.Random(seed)
    size = rng.choice(SIZES)
    image = SCENES[kind](rng, size)
    image = _vignette(image, rng.uniform(0.15, 0.45))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _hsv(hue: float, saturation: float, value: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, min(max(saturation, 0.0), 1.0), min(max(value, 0), 1))
    return (round(r * 255), round(g * 255), round(b * 255))


def _mix(a: Color, b: Color, t: float) -> Color:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _gradient(size: Size, stops: Sequence[tuple[float, Color]], angle: float = 0.0) -> Image.Image:
    """A smooth gradient through ``stops`` (position 0–1, colour), top to bottom, tilted."""
    steps = 256
    strip = Image.new("RGB", (1, steps))
    pixels = []
    for i in range(steps):
        position = i / (steps - 1)
        for (p0, c0), (p1, c1) in itertools.pairwise(stops):
            if p0 <= position <= p1:
                pixels.append(_mix(c0, c1, (position - p0) / ((p1 - p0) or 1)))
                break
        else:
            pixels.append(stops[0][1] if position < stops[0][0] else stops[-1][1])
    strip.putdata(pixels)
    if not angle:
        return strip.resize(size, Image.Resampling.BILINEAR)
    side = math.ceil(math.hypot(*size))
    square = strip.resize((side, side), Image.Resampling.BILINEAR).rotate(
        angle, Image.Resampling.BILINEAR
    )
    left, top = (side - size[0]) // 2, (side - size[1]) // 2
    return square.crop((left, top, left + size[0], top + size[1]))


def _glow_mask(diameter: int, strength: float, falloff: float) -> Image.Image:
    """A round mask, ``strength`` (0–1) at the centre fading to 0 at the rim."""
    rim = 181  # ``radial_gradient`` is 0 at the centre and 181 at the inscribed circle
    table = [round(255 * strength * max(0.0, 1 - v / rim) ** falloff) for v in range(256)]
    return Image.radial_gradient("L").point(table).resize((diameter, diameter))


def _glow(
    image: Image.Image,
    centre: tuple[int, int],
    radius: int,
    color: Color,
    strength: float,
    falloff: float = 2.0,
) -> None:
    diameter = max(2, radius * 2)
    mask = _glow_mask(diameter, strength, falloff)
    image.paste(color, (centre[0] - radius, centre[1] - radius), mask)


def _disc(image: Image.Image, centre: tuple[int, int], radius: int, color: Color) -> None:
    x, y = centre
    ImageDraw.Draw(image).ellipse((x - radius, y - radius, x + radius, y + radius), fill=color)


def _ridge(
    rng: random.Random, width: int, base: float, amplitude: float, roughness: float
) -> list[tuple[float, float]]:
    """A mountain ridge by midpoint displacement: points from x=0 to x=width."""
    count = 129
    heights = [0.0] * count
    heights[0], heights[-1] = rng.uniform(-1, 1), rng.uniform(-1, 1)
    step, scale = count - 1, 1.0
    while step > 1:
        half = step // 2
        for left in range(0, count - 1, step):
            middle = (heights[left] + heights[left + step]) / 2
            heights[left + half] = middle + rng.uniform(-scale, scale)
        step, scale = half, scale * roughness
    return [(width * i / (count - 1), base - amplitude * h) for i, h in enumerate(heights)]


def _fill_below(image: Image.Image, line: Sequence[tuple[float, float]], color: Color) -> None:
    width, height = image.size
    ImageDraw.Draw(image).polygon([(0, height), *line, (width, height)], fill=color)


def _wave(
    rng: random.Random, width: int, base: float, amplitude: float
) -> list[tuple[float, float]]:
    """A smooth rolling line (hills, dunes) as a sum of a few sines."""
    waves = [
        (rng.uniform(0.5, 3.0) * math.tau / width, rng.uniform(0, math.tau), rng.uniform(0.3, 1))
        for _ in range(3)
    ]
    total = sum(weight for _, _, weight in waves)
    return [
        (x, base - amplitude * sum(w * math.sin(f * x + p) for f, p, w in waves) / total)
        for x in range(0, width + 16, 16)
    ]


def _soft_blobs(
    size: Size,
    rng: random.Random,
    count: int,
    radius: tuple[float, float],
    area: tuple[float, float, float, float],
    blur: float,
) -> Image.Image:
    """A blurred mask of overlapping ellipses (clouds, bokeh), drawn small and scaled up."""
    shrink = 4
    small = Image.new("L", (max(1, size[0] // shrink), max(1, size[1] // shrink)), 0)
    draw = ImageDraw.Draw(small)
    w, h = small.size
    for _ in range(count):
        x = rng.uniform(area[0], area[2]) * w
        y = rng.uniform(area[1], area[3]) * h
        r = rng.uniform(*radius) * w
        draw.ellipse((x - r, y - r * 0.6, x + r, y + r * 0.6), fill=rng.randint(150, 255))
    return small.filter(ImageFilter.GaussianBlur(blur)).resize(size, Image.Resampling.BILINEAR)


def _vignette(image: Image.Image, strength: float) -> Image.Image:
    table = [round(255 * strength * min(1.0, v / 255) ** 2) for v in range(256)]
    mask = Image.radial_gradient("L").point(table).resize(image.size, Image.Resampling.BILINEAR)
    image.paste((0, 0, 0), (0, 0), mask)
    return image


def _sky(rng: random.Random, size: Size, horizon: float) -> tuple[Image.Image, Color, Color]:
    """A day, golden-hour or dusk sky; returns it with its zenith and horizon colours."""
    mood = rng.random()
    if mood < 0.4:  # day
        zenith = _hsv(rng.uniform(0.55, 0.63), rng.uniform(0.5, 0.8), rng.uniform(0.6, 0.85))
        low = _hsv(rng.uniform(0.52, 0.6), rng.uniform(0.15, 0.35), rng.uniform(0.9, 1.0))
    elif mood < 0.75:  # golden hour
        zenith = _hsv(rng.uniform(0.58, 0.7), rng.uniform(0.4, 0.7), rng.uniform(0.45, 0.7))
        low = _hsv(rng.uniform(0.04, 0.12), rng.uniform(0.5, 0.8), rng.uniform(0.9, 1.0))
    else:  # dusk
        zenith = _hsv(rng.uniform(0.65, 0.75), rng.uniform(0.5, 0.8), rng.uniform(0.2, 0.4))
        low = _hsv(rng.uniform(0.9, 1.02), rng.uniform(0.4, 0.7), rng.uniform(0.7, 0.95))
    middle = _mix(zenith, low, 0.6)
    sky = _gradient(size, [(0.0, zenith), (horizon * 0.6, middle), (horizon, low), (1.0, low)])
    return sky, zenith, low


def _reflect(image: Image.Image, horizon: int, water: Color, rng: random.Random) -> None:
    """Mirror what is above the horizon into water below it, darkened and rippled."""
    width, height = image.size
    depth = height - horizon
    if depth < 4:
        return
    top = max(0, horizon - depth)
    mirrored = image.crop((0, top, width, horizon)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    mirrored = mirrored.resize((width, depth))
    tinted = Image.blend(mirrored, Image.new("RGB", mirrored.size, water), rng.uniform(0.3, 0.55))
    draw = ImageDraw.Draw(tinted)
    for _ in range(depth // 6):
        y = rng.uniform(0, depth)
        x = rng.uniform(-0.2, 1) * width
        length = rng.uniform(0.05, 0.4) * width
        shade = _mix(water, (255, 255, 255), rng.uniform(0.05, 0.25))
        draw.line((x, y, x + length, y), fill=shade, width=max(1, depth // 150))
    image.paste(tinted, (0, horizon))


def _mountains(rng: random.Random, size: Size) -> Image.Image:
    width, height = size
    horizon = rng.uniform(0.55, 0.75)
    image, _zenith, low = _sky(rng, size, horizon)
    if rng.random() < 0.7:
        sun = (round(rng.uniform(0.15, 0.85) * width), round(rng.uniform(0.15, 0.5) * height))
        radius = round(min(size) * rng.uniform(0.03, 0.06))
        _glow(image, sun, radius * 8, (255, 236, 190), rng.uniform(0.4, 0.7))
        _disc(image, sun, radius, (255, 248, 225))
    rock = _hsv(rng.uniform(0.55, 0.75), rng.uniform(0.15, 0.4), rng.uniform(0.25, 0.45))
    layers = rng.randint(3, 5)
    lake = rng.random() < 0.4
    line: list[tuple[float, float]] = []
    for layer in range(layers):
        depth = layer / max(1, layers - 1)  # 0 far, 1 near
        base = height * (horizon - 0.25 + 0.25 * depth)
        line = _ridge(rng, width, base, height * rng.uniform(0.12, 0.22), rng.uniform(0.5, 0.6))
        color = _mix(low, _mix(rock, (10, 14, 18), depth * 0.7), 0.35 + 0.65 * depth)
        _fill_below(image, line, color)
    if rng.random() < 0.5 and not lake:
        draw = ImageDraw.Draw(image)
        dark = _mix(rock, (5, 15, 8), 0.8)
        for _ in range(rng.randint(15, 60)):
            x, y = rng.choice(line)
            x += rng.uniform(-10, 10)
            tree = height * rng.uniform(0.03, 0.07)
            draw.polygon([(x, y - tree), (x - tree * 0.25, y + 2), (x + tree * 0.25, y + 2)], dark)
    if lake:
        water = _hsv(rng.uniform(0.5, 0.6), 0.5, 0.35)
        _reflect(image, round(height * rng.uniform(0.72, 0.85)), water, rng)
    return image


def _sea(rng: random.Random, size: Size) -> Image.Image:
    width, height = size
    horizon = rng.uniform(0.45, 0.65)
    zenith = _hsv(rng.uniform(0.6, 0.72), rng.uniform(0.4, 0.7), rng.uniform(0.3, 0.6))
    glow = _hsv(rng.uniform(0.0, 0.11), rng.uniform(0.6, 0.9), 1.0)
    band = _hsv(rng.uniform(0.9, 1.0), rng.uniform(0.3, 0.6), rng.uniform(0.7, 0.9))
    stops = [(0.0, zenith), (horizon * 0.55, band), (horizon, glow), (1.0, glow)]
    image = _gradient(size, stops)
    sea_level = round(height * horizon)
    sun = (round(rng.uniform(0.2, 0.8) * width), sea_level - round(height * rng.uniform(0.0, 0.1)))
    radius = round(min(size) * rng.uniform(0.04, 0.08))
    _glow(image, sun, radius * 7, _mix(glow, (255, 255, 220), 0.5), 0.7)
    _disc(image, sun, radius, (255, 240, 200))
    water = _mix(zenith, (0, 10, 30), 0.4)
    sea = _gradient((width, height - sea_level), [(0.0, _mix(glow, water, 0.6)), (1.0, water)])
    draw = ImageDraw.Draw(sea)
    for _ in range(rng.randint(60, 140)):  # the sun's path on the water
        y = rng.uniform(0, 1) ** 1.5 * sea.height
        spread = radius * (1 + 3 * y / max(1, sea.height))
        x = sun[0] + rng.gauss(0, spread * 0.6)
        length = rng.uniform(0.3, 1.2) * spread
        draw.line((x - length / 2, y, x + length / 2, y), fill=(255, 220, 170), width=2)
    image.paste(sea, (0, sea_level))
    if rng.random() < 0.5:  # an island or headland
        start = rng.choice((-0.2, 0.6))
        left, right = start * width, (start + 0.6) * width
        wave = _wave(rng, width, sea_level - height * 0.04, height * 0.05)
        line = [(x, min(y, sea_level)) for x, y in wave if left <= x <= right]
        if len(line) > 2:
            outline = [(line[0][0], sea_level), *line, (line[-1][0], sea_level)]
            ImageDraw.Draw(image).polygon(outline, fill=(25, 20, 30))
    return image


def _night(rng: random.Random, size: Size) -> Image.Image:
    width, height = size
    top = _hsv(rng.uniform(0.6, 0.72), rng.uniform(0.6, 0.9), rng.uniform(0.05, 0.12))
    low = _hsv(rng.uniform(0.58, 0.7), rng.uniform(0.4, 0.7), rng.uniform(0.2, 0.35))
    image = _gradient(size, [(0.0, top), (1.0, low)])
    draw = ImageDraw.Draw(image)
    for _ in range(width * height // 2500):
        x, y = rng.uniform(0, width), rng.uniform(0, height) ** 1.1
        level = rng.randint(120, 255)
        r = rng.choice((0.5, 0.5, 0.5, 1, 1, 1.6))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(level, level, min(255, level + 20)))
    if rng.random() < 0.5:  # a faint milky way
        band = _soft_blobs(size, rng, 40, (0.02, 0.08), (0.1, 0.1, 0.9, 0.5), 6)
        band = band.point([v // 5 for v in range(256)])
        image.paste((220, 210, 255), (0, 0), band)
    moon = (round(rng.uniform(0.15, 0.85) * width), round(rng.uniform(0.1, 0.4) * height))
    radius = round(min(size) * rng.uniform(0.03, 0.06))
    _glow(image, moon, radius * 6, (200, 210, 255), 0.35)
    _disc(image, moon, radius, (240, 240, 225))
    for layer in range(2):
        line = _ridge(rng, width, height * (0.75 + 0.1 * layer), height * 0.12, 0.55)
        _fill_below(image, line, (8 + 8 * (1 - layer), 10 + 8 * (1 - layer), 20))
    return image


def _city(rng: random.Random, size: Size) -> Image.Image:
    width, height = size
    horizon = rng.uniform(0.65, 0.85)
    image, zenith, low = _sky(rng, size, horizon)
    draw = ImageDraw.Draw(image)
    ground = round(height * horizon)
    lit = _hsv(rng.uniform(0.1, 0.15), rng.uniform(0.3, 0.6), 1.0)
    for layer in range(2):
        x = -rng.uniform(0, 40)
        body = _mix(_mix(zenith, (15, 15, 25), 0.7), low, 0.35 * (1 - layer))
        while x < width:
            w = width * rng.uniform(0.03, 0.09)
            h = height * rng.uniform(0.1, 0.45) * (1.2 - 0.3 * layer)
            draw.rectangle((x, ground - h, x + w, ground), fill=body)
            if layer == 1:
                cell = max(6, round(w / rng.randint(4, 7)))
                for wy in range(round(ground - h) + cell, ground - cell, cell):
                    for wx in range(round(x) + cell // 2, round(x + w) - cell // 2, cell):
                        if rng.random() < 0.35:
                            draw.rectangle((wx, wy, wx + cell // 2, wy + cell // 2), fill=lit)
            x += w + rng.uniform(0, 12)
    if rng.random() < 0.5:
        _reflect(image, ground, _mix(zenith, (0, 0, 0), 0.5), rng)
    else:
        draw.rectangle((0, ground, width, height), fill=(18, 18, 24))
    return image


def _hills(rng: random.Random, size: Size) -> Image.Image:
    width, height = size
    horizon = rng.uniform(0.5, 0.7)
    image, _zenith, low = _sky(rng, size, horizon)
    clouds = _soft_blobs(size, rng, rng.randint(8, 30), (0.03, 0.12), (0, 0, 1, horizon * 0.8), 5)
    image.paste((255, 255, 255), (0, 0), clouds)
    hue = rng.uniform(0.2, 0.32)
    for layer in range(4):
        depth = layer / 3
        line = _wave(rng, width, height * (horizon + 0.12 * layer), height * rng.uniform(0.04, 0.1))
        green = _hsv(hue + rng.uniform(-0.03, 0.03), 0.55 + 0.2 * depth, 0.75 - 0.35 * depth)
        _fill_below(image, line, _mix(low, green, 0.5 + 0.5 * depth))
    return image


def _dunes(rng: random.Random, size: Size) -> Image.Image:
    width, height = size
    horizon = rng.uniform(0.35, 0.6)
    image, _zenith, _low = _sky(rng, size, horizon)
    sand = _hsv(rng.uniform(0.06, 0.1), rng.uniform(0.45, 0.7), rng.uniform(0.75, 0.95))
    for layer in range(rng.randint(3, 5)):
        line = _wave(rng, width, height * (horizon + 0.1 * layer), height * rng.uniform(0.05, 0.12))
        shade = _mix(sand, (60, 30, 10), rng.uniform(0.0, 0.4))
        _fill_below(image, line, shade)
        # the lit flank of the dune: a lighter band just under its crest
        crest = [(x, y + height * 0.01) for x, y in line]
        ImageDraw.Draw(image).line(crest, fill=_mix(shade, (255, 240, 210), 0.3), width=3)
    return image


def _bokeh(rng: random.Random, size: Size) -> Image.Image:
    base_hue = rng.random()
    dark = _hsv(base_hue, rng.uniform(0.4, 0.8), rng.uniform(0.05, 0.2))
    image = _gradient(size, [(0.0, dark), (1.0, _mix(dark, (0, 0, 0), 0.5))], rng.uniform(-40, 40))
    for _ in range(rng.randint(2, 4)):
        mask = _soft_blobs(size, rng, rng.randint(10, 40), (0.01, 0.06), (0, 0, 1, 1), 4)
        opacity = rng.uniform(0.4, 0.8)
        mask = mask.point([round(v * opacity) for v in range(256)])
        hue = base_hue + rng.choice((0.0, 0.1, 0.5)) + rng.uniform(-0.05, 0.05)
        image.paste(_hsv(hue, rng.uniform(0.3, 0.7), 1.0), (0, 0), mask)
    return image


def _shapes(rng: random.Random, size: Size) -> Image.Image:
    width, height = size
    hue = rng.random()
    palette = [
        _hsv(hue + rng.choice((0, 0.08, 0.5, 0.58)), rng.uniform(0.4, 0.9), rng.uniform(0.5, 1))
        for _ in range(5)
    ]
    image = _gradient(size, [(0.0, palette[0]), (1.0, palette[1])], rng.uniform(0, 360))
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(6, 18)):
        color = (*rng.choice(palette), rng.randint(70, 190))
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = min(size) * rng.uniform(0.05, 0.3)
        shape = rng.randrange(3)
        if shape == 0:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
        elif shape == 1:
            draw.rectangle((x - r, y - r * 0.6, x + r, y + r * 0.6), fill=color)
        else:
            angles = sorted(rng.uniform(0, math.tau) for _ in range(3))
            points = [(x + r * math.cos(a), y + r * math.sin(a)) for a in angles]
            draw.polygon(points, fill=color)
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")


SCENES: dict[str, Callable[[random.Random, Size], Image.Image]] = {
    "mountains": _mountains,
    "sea": _sea,
    "night": _night,
    "city": _city,
    "hills": _hills,
    "dunes": _dunes,
    "bokeh": _bokeh,
    "shapes": _shapes,
}
SCENE_KINDS = tuple(SCENES)
