"""The `generated` set: graphics drawn with numpy + Pillow whose hard negatives share almost
everything (a colour, a template, a canvas, a face, a style, a palette) but are distinct."""

from __future__ import annotations

import colorsys
import math
import random
from pathlib import Path

import numpy as np
from common import Original, font, random_colour
from PIL import Image, ImageDraw, ImageFilter

NO_RECOLOUR = frozenset({"recolour", "two"})  # a recoloured flat colour IS another flat colour
SIZES = [(640, 480), (512, 512), (800, 450), (600, 800)]


def _distinct_hues(rng: random.Random, n: int) -> list[float]:
    start = rng.random()
    return [(start + k / n + rng.uniform(-0.2, 0.2) / n) % 1.0 for k in range(n)]


def _rgb(h: float, lightness: float, sat: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb(h, lightness, sat)
    return round(r * 255), round(g * 255), round(b * 255)


def flats(rng: random.Random, n: int = 18) -> list[Original]:
    out = []
    for k, h in enumerate(_distinct_hues(rng, n)):
        lightness = [0.3, 0.5, 0.7][k % 3]
        colour = _rgb(h, lightness, rng.uniform(0.5, 0.9))
        img = Image.new("RGB", rng.choice(SIZES), colour)
        out.append(Original(img, f"flat {colour}", "flat", avoid=NO_RECOLOUR))
    for grey in (0, 128, 255):
        out.append(
            Original(
                Image.new("RGB", rng.choice(SIZES), (grey,) * 3),
                f"flat grey {grey}",
                "flat",
                avoid=NO_RECOLOUR,
            )
        )
    return out


def gradients(rng: random.Random, n: int = 20) -> list[Original]:
    out = []
    hues = _distinct_hues(rng, n)
    for k in range(n):
        w, h = rng.choice(SIZES)
        a = np.array(_rgb(hues[k], rng.uniform(0.25, 0.45), 0.8), dtype=np.float32)
        other = (hues[k] + rng.uniform(0.1, 0.5)) % 1
        b = np.array(_rgb(other, rng.uniform(0.55, 0.8), 0.8), dtype=np.float32)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        if k % 4 == 3:
            t = np.hypot(xx / w - 0.5, yy / h - 0.5) / 0.71
            kind = "radial"
        else:
            angle = rng.uniform(0, 2 * math.pi)
            t = (xx / w - 0.5) * math.cos(angle) + (yy / h - 0.5) * math.sin(angle)
            t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
            kind = f"linear {math.degrees(angle):.0f}°"
        pix = a + (b - a) * t[..., None]
        img = Image.fromarray(np.clip(pix, 0, 255).astype(np.uint8), "RGB")
        out.append(Original(img, f"gradient {kind}", "gradient", avoid=NO_RECOLOUR))
    return out


def darks(rng: random.Random, n: int = 14) -> list[Original]:
    """Near-black backgrounds: a faint tint, vignette and one dim detail each."""
    out = []
    for k in range(n):
        w, h = rng.choice(SIZES)
        tint = np.array(_rgb(rng.random(), rng.uniform(0.04, 0.10), 0.6), dtype=np.float32)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        vign = 1 - 0.6 * np.hypot(xx / w - rng.uniform(0.3, 0.7), yy / h - rng.uniform(0.3, 0.7))
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 1.5, (h, w, 1))
        img = Image.fromarray(np.clip(tint * vign[..., None] + noise, 0, 255).astype(np.uint8), "RGB")
        d = ImageDraw.Draw(img)
        dim = tuple(int(c) + 18 for c in tint)
        detail = k % 3
        if detail == 0:
            word = rng.choice(["night", "v2", "menu", "ok"])
            d.text(
                (rng.randint(10, w // 2), rng.randint(10, h - 40)),
                word,
                font=font(rng.randint(18, 40)),
                fill=dim,
            )
        elif detail == 1:
            for _ in range(rng.randint(3, 12)):
                x, y = rng.randint(0, w), rng.randint(0, h)
                d.ellipse((x, y, x + 3, y + 3), fill=dim)
        else:
            y = rng.randint(h // 4, h * 3 // 4)
            d.line((0, y, w, y + rng.randint(-40, 40)), fill=dim, width=2)
        out.append(
            Original(img, f"dark background tint {tuple(int(c) for c in tint)}", "dark", avoid=NO_RECOLOUR)
        )
    return out


TITLES = [
    "How we cut build times in half",
    "Ten tips for better photos",
    "Release 3.2 is out",
    "Meet the team behind the app",
    "A guide to colour palettes",
    "Why tests fail at night",
    "Our roadmap for next year",
    "Scaling to a million users",
    "The art of small icons",
    "Five lessons from the outage",
    "Designing for dark mode",
    "A tour of the new editor",
    "Interview: the sound designer",
    "Benchmarks you can trust",
    "Inside the data pipeline",
    "Packaging made simple",
    "What is new in the API",
    "Hiring: join our studio",
    "Community call recap",
    "Writing docs people read",
]


def _art(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int], rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    for _ in range(rng.randint(3, 7)):
        cx, cy = rng.randint(x0, x1), rng.randint(y0, y1)
        r = rng.randint(20, (x1 - x0) // 3)
        shape = rng.choice(["ellipse", "rectangle", "polygon"])
        colour = random_colour(rng)
        if shape == "polygon":
            pts = [
                (cx + r * math.cos(a), cy + r * math.sin(a))
                for a in np.linspace(0, 2 * math.pi, rng.randint(3, 6), endpoint=False)
            ]
            d.polygon(pts, fill=colour)
        else:
            getattr(d, shape)((cx - r, cy - r, cx + r, cy + r), fill=colour)


def cards(rng: random.Random, n: int = 20) -> list[Original]:
    """One social-card template: same background, logo and layout; different title and art."""
    out = []
    for k in range(n):
        img = Image.new("RGB", (1200, 630), (24, 32, 56))
        d = ImageDraw.Draw(img)
        d.rectangle((0, 0, 1200, 12), fill=(255, 170, 40))
        d.ellipse((60, 50, 130, 120), fill=(255, 170, 40))
        d.text((150, 62), "devblog", font=font(40, "sans-bold"), fill=(240, 240, 240))
        words = TITLES[k].split()
        lines = [" ".join(words[: len(words) // 2 + 1]), " ".join(words[len(words) // 2 + 1 :])]
        for j, line in enumerate(lines):
            d.text((60, 220 + j * 80), line, font=font(58, "sans-bold"), fill=(255, 255, 255))
        d.text((60, 540), "blog.example.org  ·  5 min read", font=font(28), fill=(160, 170, 190))
        d.rounded_rectangle((760, 150, 1140, 570), 30, fill=(40, 52, 88))
        _art(d, (800, 190, 1100, 530), rng)
        out.append(Original(img, f"card template: {TITLES[k]}", "template:card"))
    return out


def _scene(w: int, h: int) -> Image.Image:
    """The one canvas every sprite is placed on: sky, hills, ground."""
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    sky = np.array([110, 170, 235], np.float32) * (1 - yy) + np.array([200, 225, 250], np.float32) * yy
    img = Image.fromarray(np.repeat(sky, w, axis=1).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    d.ellipse((-100, h * 0.55, w * 0.6, h * 1.2), fill=(90, 160, 80))
    d.ellipse((w * 0.4, h * 0.6, w * 1.3, h * 1.3), fill=(70, 140, 70))
    d.rectangle((0, h * 0.82, w, h), fill=(120, 90, 60))
    d.ellipse((w * 0.8, h * 0.08, w * 0.9, h * 0.08 + w * 0.1), fill=(255, 230, 120))
    return img


def _sprite(d: ImageDraw.ImageDraw, x: int, y: int, s: int, rng: random.Random) -> str:
    body = random_colour(rng)
    kind = rng.choice(["blob", "robot", "bird", "cat"])
    if kind == "robot":
        d.rectangle((x, y, x + s, y + s), fill=body)
        d.rectangle((x + s // 5, y - s // 2, x + s * 4 // 5, y), fill=body)
        d.rectangle((x + s // 3, y - s // 3, x + s // 2, y - s // 6), fill=(20, 20, 20))
    elif kind == "bird":
        d.ellipse((x, y, x + s, y + s * 2 // 3), fill=body)
        beak = [(x + s, y + s // 4), (x + s * 3 // 2, y + s // 3), (x + s, y + s // 2)]
        d.polygon(beak, fill=(250, 180, 30))
    elif kind == "cat":
        d.ellipse((x, y, x + s, y + s), fill=body)
        d.polygon([(x, y + s // 3), (x + s // 6, y - s // 4), (x + s // 3, y + s // 6)], fill=body)
        right_ear = [(x + s, y + s // 3), (x + s * 5 // 6, y - s // 4), (x + s * 2 // 3, y + s // 6)]
        d.polygon(right_ear, fill=body)
    else:
        d.ellipse((x, y, x + s, y + s * 4 // 5), fill=body)
    d.ellipse((x + s // 4, y + s // 4, x + s // 4 + s // 8, y + s // 4 + s // 8), fill=(255, 255, 255))
    return f"{kind} {body}"


def canvases(rng: random.Random, n: int = 20) -> list[Original]:
    """One background, a different character on it each time (a game's level screenshots)."""
    out = []
    w, h = 800, 500
    for _ in range(n):
        img = _scene(w, h)
        d = ImageDraw.Draw(img)
        s = rng.randint(50, 110)
        what = _sprite(d, rng.randint(20, w - s - 60), rng.randint(int(h * 0.45), int(h * 0.82) - s), s, rng)
        out.append(Original(img, f"canvas + {what}", "canvas"))
    return out


EYES = ["dot", "line", "x", "heart", "wide", "wink"]
MOUTHS = ["smile", "frown", "o", "flat", "grin"]


def _eye(d: ImageDraw.ImageDraw, cx: int, cy: int, kind: str, ink: tuple[int, int, int]) -> None:
    if kind == "dot":
        d.ellipse((cx - 14, cy - 14, cx + 14, cy + 14), fill=ink)
    elif kind == "line":
        d.line((cx - 20, cy, cx + 20, cy), fill=ink, width=8)
    elif kind == "x":
        d.line((cx - 16, cy - 16, cx + 16, cy + 16), fill=ink, width=7)
        d.line((cx - 16, cy + 16, cx + 16, cy - 16), fill=ink, width=7)
    elif kind == "heart":
        d.polygon(
            [
                (cx - 20, cy - 6),
                (cx, cy + 20),
                (cx + 20, cy - 6),
                (cx + 10, cy - 18),
                (cx, cy - 8),
                (cx - 10, cy - 18),
            ],
            fill=(220, 30, 60),
        )
    elif kind == "wide":
        d.ellipse((cx - 22, cy - 26, cx + 22, cy + 26), fill=(255, 255, 255), outline=ink, width=4)
        d.ellipse((cx - 8, cy - 8, cx + 8, cy + 8), fill=ink)
    else:
        d.arc((cx - 20, cy - 14, cx + 20, cy + 14), 200, 340, fill=ink, width=7)


def _mouth(d: ImageDraw.ImageDraw, kind: str, ink: tuple[int, int, int]) -> None:
    if kind == "smile":
        d.arc((150, 220, 362, 400), 20, 160, fill=ink, width=12)
    elif kind == "frown":
        d.arc((160, 330, 352, 470), 200, 340, fill=ink, width=12)
    elif kind == "o":
        d.ellipse((226, 320, 286, 390), fill=ink)
    elif kind == "flat":
        d.line((180, 360, 332, 360), fill=ink, width=12)
    else:
        d.chord((160, 250, 352, 420), 0, 180, fill=ink)
        d.rectangle((180, 335, 332, 350), fill=(255, 255, 255))


def faces(rng: random.Random, n: int = 20) -> list[Original]:
    """One emoji face, different eyes and mouths."""
    combos = [(e, m) for e in EYES for m in MOUTHS]
    out = []
    for eye, mouth in rng.sample(combos, n):
        img = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
        d = ImageDraw.Draw(img)
        d.ellipse((40, 40, 472, 472), fill=(255, 205, 60, 255), outline=(230, 160, 30, 255), width=10)
        ink = (70, 45, 20)
        _eye(d, 180, 200, eye, ink)
        _eye(d, 332, 200, eye, ink)
        _mouth(d, mouth, ink)
        out.append(Original(img, f"face eyes={eye} mouth={mouth}", "face"))
    return out


GLYPHS = "★♥✓✗✉☎⚙⌂♫☀☁☂✈⚑♞⚓✂☕⚡✎"


def icons(rng: random.Random, n: int = 20) -> list[Original]:
    """Flat icons in one style: one rounded tile colour, a different white glyph."""
    out = []
    for g in GLYPHS[:n]:
        img = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
        d = ImageDraw.Draw(img)
        d.rounded_rectangle((16, 16, 240, 240), 48, fill=(52, 120, 246, 255))
        d.text((128, 132), g, font=font(130), fill=(255, 255, 255, 255), anchor="mm")
        out.append(Original(img, f"flat icon {g}", "icon"))
    return out


def _alpha_only(shape: Image.Image) -> Image.Image:
    """White everywhere; the picture lives in the alpha channel only."""
    img = Image.new("RGBA", shape.size, (255, 255, 255, 0))
    img.putalpha(shape)
    return img


def alphas(rng: random.Random, n: int = 20) -> list[Original]:
    """Transparent PNGs whose content is only alpha: glyphs, particles, sprites."""
    out = []
    for k in range(n):
        mask = Image.new("L", (256, 256), 0)
        d = ImageDraw.Draw(mask)
        kind = ["glyph", "particles", "sprite", "ring"][k % 4]
        if kind == "glyph":
            ch = rng.choice("ABCDEFGHKMNPRSTWXZ&@#%?!")
            d.text((128, 128), ch, font=font(180, "sans-bold"), fill=255, anchor="mm")
            what = ch
        elif kind == "particles":
            for _ in range(rng.randint(6, 30)):
                x, y, r = rng.randint(10, 246), rng.randint(10, 246), rng.randint(2, 14)
                d.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(120, 255))
            mask = mask.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 3)))
            what = "particles"
        elif kind == "sprite":
            pts = [
                (128 + rng.randint(40, 110) * math.cos(a), 128 + rng.randint(40, 110) * math.sin(a))
                for a in np.linspace(0, 2 * math.pi, rng.randint(5, 9), endpoint=False)
            ]
            d.polygon(pts, fill=255)
            what = "polygon sprite"
        else:
            r = rng.randint(40, 110)
            d.ellipse((128 - r, 128 - r, 128 + r, 128 + r), outline=255, width=rng.randint(6, 30))
            what = f"ring r={r}"
        out.append(Original(_alpha_only(mask), f"alpha-only {what}", "alpha", avoid=NO_RECOLOUR))
    return out


PALETTE = [(38, 70, 83), (42, 157, 143), (233, 196, 106), (244, 162, 97), (231, 111, 81)]


def palettes(rng: random.Random, n: int = 15) -> list[Original]:
    """One five-colour palette, different abstract compositions."""
    out = []
    for _ in range(n):
        img = Image.new("RGB", (640, 480), PALETTE[0])
        d = ImageDraw.Draw(img)
        for _ in range(rng.randint(4, 9)):
            x, y = rng.randint(-50, 600), rng.randint(-50, 440)
            s = rng.randint(40, 220)
            getattr(d, rng.choice(["ellipse", "rectangle"]))(
                (x, y, x + s, y + s * rng.uniform(0.4, 1.6)), fill=rng.choice(PALETTE[1:])
            )
        out.append(Original(img, "palette composition", "palette"))
    return out


def compositions(rng: random.Random, n: int = 15) -> list[Original]:
    """One composition (horizon, sun, a skyline), different buildings and clouds."""
    out = []
    for _ in range(n):
        img = Image.new("RGB", (800, 500), (250, 200, 150))
        d = ImageDraw.Draw(img)
        d.ellipse((340, 120, 460, 240), fill=(250, 110, 60))
        x = 0
        while x < 800:
            bw, bh = rng.randint(30, 90), rng.randint(60, 240)
            d.rectangle((x, 340 - bh, x + bw, 340), fill=(60, 50, 80))
            x += bw + rng.randint(0, 12)
        for _ in range(rng.randint(1, 4)):
            cx, cy = rng.randint(0, 800), rng.randint(20, 150)
            d.ellipse((cx, cy, cx + rng.randint(60, 160), cy + rng.randint(20, 45)), fill=(255, 235, 220))
        d.rectangle((0, 340, 800, 500), fill=(40, 40, 60))
        out.append(Original(img, "skyline composition", "composition"))
    return out


def generated(rng: random.Random, cache: Path) -> list[Original]:
    makers = [flats, gradients, darks, cards, canvases, faces, icons, alphas, palettes, compositions]
    return [o for make in makers for o in make(rng)]
