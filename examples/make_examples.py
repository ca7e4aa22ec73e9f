#!/usr/bin/env python3
"""Generate the example images shipped in examples/ (synthetic, no third-party content).

Three originals a site might have (a sky gradient, a sunset card, a tiled pattern), plus
the copies that pile up: a re-compressed small JPEG, a 75% crop, and a watermarked export.
Run: python examples/make_examples.py
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))


def sky(width: int = 800, height: int = 500) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    r = 120 + 80 * y + 20 * np.sin(6 * x)
    g = 170 + 60 * y
    b = 235 - 30 * y + 15 * np.cos(5 * x * y)
    img = Image.fromarray(np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for cx, cy, rad in ((180, 140, 60), (240, 120, 80), (560, 200, 70), (620, 180, 50)):
        draw.ellipse((cx - rad, cy - rad // 2, cx + rad, cy + rad // 2), fill=(250, 250, 252))
    return img


def sunset(width: int = 800, height: int = 500) -> Image.Image:
    y = np.linspace(0, 1, height)[:, None].repeat(width, 1)
    rgb = np.stack([250 - 40 * y, 150 - 100 * y, 60 + 120 * y], -1)
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    draw.ellipse((320, 300, 480, 460), fill=(255, 210, 80))
    draw.polygon(
        [(0, 420), (200, 340), (420, 430), (640, 330), (800, 410), (800, 500), (0, 500)], fill=(40, 30, 60)
    )
    return img


def pattern(width: int = 600, height: int = 600) -> Image.Image:
    rng = np.random.default_rng(3)
    tiles = rng.integers(0, 255, size=(6, 6, 3), dtype=np.uint8)
    img = Image.fromarray(tiles).resize((width, height), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(img)
    for i in range(0, width, 100):
        draw.line((i, 0, width - i, height), fill=(255, 255, 255), width=6)
    return img


def main() -> None:
    originals = {"sky.png": sky(), "sunset-card.png": sunset(), "pattern.png": pattern()}
    for name, img in originals.items():
        img.save(os.path.join(HERE, name))
    s = originals["sky.png"]
    s.resize((400, 250), Image.Resampling.LANCZOS).save(os.path.join(HERE, "sky-small.jpg"), quality=60)
    s.crop((100, 60, 700, 440)).save(os.path.join(HERE, "sky-crop.png"))
    marked = originals["sunset-card.png"].copy()
    ImageDraw.Draw(marked).text((620, 470), "(c) example.org", fill=(255, 255, 255))
    marked.save(os.path.join(HERE, "sunset-card-watermarked.jpg"), quality=85)


if __name__ == "__main__":
    main()
