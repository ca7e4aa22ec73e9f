"""Shared pieces of the development sets: the seeded edits, de-duplication of originals, and
the writer of images/ + labels.json (the format of ../shared/bench/build_public.py, plus
"negatives": {name: family tag} for hard negatives)."""

from __future__ import annotations

import colorsys
import hashlib
import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

MAX_SIDE = 1024  # originals are shrunk to this: dupgate and the hashes look at far less
MIN_SIDE = 24  # smaller sources are skipped (icons below 24 px say little)
EDITED_SHARE = 1 / 3
FAMILIES = ["resize", "crop", "square", "social", "recolour", "banner", "watermark", "border", "two"]
_FONTS: dict[str, Path] = {}


@dataclass
class Original:
    """One source image; `negative` tags its hard-negative family, `natural` names the group of
    natural variants (e.g. one icon at several sizes) it belongs to, labelled `natural_kind`."""

    image: Image.Image
    source: str
    negative: str | None = None
    natural: str | None = None
    natural_kind: str = ""
    editable: bool = True
    ext: str = ".png"  # how the original is stored (".jpg" for photos that came as JPEG)
    avoid: frozenset[str] = frozenset()  # edit families that would turn it into a sibling


@dataclass
class Item:
    image: Image.Image
    ext: str
    source: str
    origin: int  # index of the original it was made from
    family: str | None  # None for the original itself


def set_fonts(paths: dict[str, Path]) -> None:
    """Register the TrueType files (from the cached Debian font packages) used for drawing."""
    _FONTS.update(paths)


def font(size: int, face: str = "sans") -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _FONTS.get(face) or _FONTS.get("sans")
    if path is None:
        return ImageFont.load_default(size=max(6, size))
    return ImageFont.truetype(str(path), max(6, size))


def font_faces() -> list[str]:
    return sorted(_FONTS)


def fit(img: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """RGB or RGBA (alpha only where it carries something), at most max_side."""
    if img.mode in ("P", "LA", "L") and ("transparency" in img.info or img.mode == "LA"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        if img.getchannel("A").getextrema()[0] == 255:
            img = img.convert("RGB")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def alpha_only(img: Image.Image) -> bool:
    """Transparent, with one colour wherever it is visible: the picture is the alpha mask."""
    if img.mode != "RGBA":
        return False
    a = np.asarray(img)
    visible = a[..., 3] > 0
    return bool(visible.any() and not visible.all() and a[visible][:, :3].std(axis=0).max() < 8)


def signature(img: Image.Image) -> np.ndarray:
    """A 64x64 premultiplied RGBA thumbnail, what `same_picture` compares."""
    rgba = img.convert("RGBA").resize((64, 64), Image.Resampling.BOX)
    a = np.asarray(rgba, dtype=np.float32)
    return np.concatenate([a[..., :3] * a[..., 3:] / 255.0, a[..., 3:]], axis=2)


def same_picture(a: np.ndarray, b: np.ndarray) -> bool:
    """Visually the same: under 0.3% of thumbnail pixels differ by more than 24/255 and the
    mean difference is under 4/255. A 50 px sprite on an 800 px canvas, a changed eye in an
    animation frame or a darker tint are differences; re-encoding noise is not."""
    d = np.abs(a - b).max(axis=2)
    return float((d > 24).mean()) < 0.003 and float(d.mean()) < 4


def dedupe(originals: list[Original]) -> list[Original]:
    """Drop originals byte-identical or visually the same (same_picture, at the same aspect;
    blank ones at any aspect) as an earlier one, unless both are natural variants of one
    group; also drop too-small ones. Distinct must mean distinct."""
    kept: list[Original] = []
    sigs: list[np.ndarray] = []
    aspects: list[float] = []
    seen: set[str] = set()
    for o in originals:
        if min(o.image.size) < MIN_SIDE:
            continue
        digest = hashlib.sha1(o.image.tobytes() + repr(o.image.size).encode()).hexdigest()
        if digest in seen:
            continue
        sig = signature(o.image)
        aspect = o.image.width / o.image.height
        uniform = float(sig.std(axis=(0, 1)).max()) < 3  # blank: the same at any aspect
        clash = any(
            (uniform or abs(aspect - a) < 0.05)
            and same_picture(sig, s)
            and not (o.natural and o.natural == k.natural)
            for s, a, k in zip(sigs, aspects, kept, strict=True)
        )
        if clash:
            continue
        seen.add(digest)
        kept.append(o)
        sigs.append(sig)
        aspects.append(aspect)
    return kept


# ---- edits: each returns (image, extension, description); parameters drawn from rng ----

Edit = tuple[Image.Image, str, str]


def _split_alpha(img: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if img.mode == "RGBA":
        return img.convert("RGB"), img.getchannel("A")
    return img, None


def _join_alpha(rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return rgb
    out = rgb.convert("RGBA")
    out.putalpha(alpha)
    return out


def _lossless_ext(img: Image.Image, rng: random.Random) -> str:
    return rng.choice([".png", ".webp"]) if img.mode == "RGBA" else rng.choice([".png", ".jpg", ".webp"])


def edit_resize(img: Image.Image, rng: random.Random) -> Edit:
    w, h = img.size
    if rng.random() < 0.65:
        f = rng.uniform(0.25, 0.75)
        out = img.resize((max(8, round(w * f)), max(8, round(h * f))), Image.Resampling.LANCZOS)
        ext = ".webp" if img.mode == "RGBA" else ".jpg"
        return out, ext, f"resize {f:.2f}"
    ext = _lossless_ext(img, rng)
    return img.copy(), ext, f"format {ext}"


def edit_crop(img: Image.Image, rng: random.Random) -> Edit:
    w, h = img.size
    keep = rng.uniform(0.70, 0.95)  # share of the area kept
    fw = rng.uniform(keep, 1.0)
    fh = keep / fw
    cw, ch = max(8, round(w * fw)), max(8, round(h * fh))
    x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return img.crop((x0, y0, x0 + cw, y0 + ch)), ".png", f"crop keep {keep:.2f} at {x0},{y0}"


def _window(img: Image.Image, cw: int, ch: int, rng: random.Random, what: str) -> Edit:
    w, h = img.size
    centred = rng.random() < 0.5
    if centred:
        x0, y0 = (w - cw) // 2, (h - ch) // 2
    else:
        x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    out = img.crop((x0, y0, x0 + cw, y0 + ch))
    return out, rng.choice([".png", ".webp"]), f"{what} {'centre' if centred else 'offset'} {x0},{y0}"


def edit_square(img: Image.Image, rng: random.Random) -> Edit:
    s = min(img.size)
    return _window(img, s, s, rng, "square")


def edit_social(img: Image.Image, rng: random.Random) -> Edit:
    w, h = img.size
    cw, ch = (w, max(8, round(w / 1.91))) if w / h < 1.91 else (max(8, round(h * 1.91)), h)
    out, ext, what = _window(img, min(cw, w), min(ch, h), rng, "social 1.91:1")
    if out.width > 1200:
        out = out.resize((1200, round(out.height * 1200 / out.width)), Image.Resampling.LANCZOS)
    return out, ext, what


def hue_rotate(img: Image.Image, degrees: float) -> Image.Image:
    rgb, alpha = _split_alpha(img)
    hsv = np.asarray(rgb.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + int(degrees / 360 * 256)) % 256
    return _join_alpha(Image.fromarray(hsv, "HSV").convert("RGB"), alpha)


def edit_recolour(img: Image.Image, rng: random.Random) -> Edit:
    rgb, alpha = _split_alpha(img)
    how = rng.choice(["hue", "saturation", "brightness", "swap", "grey"])
    if how == "hue":
        deg = rng.uniform(15, 345)
        return hue_rotate(img, deg), ".png", f"hue {deg:.0f}"
    if how == "saturation":
        f = rng.choice([rng.uniform(0.5, 0.85), rng.uniform(1.2, 1.8)])
        return _join_alpha(ImageEnhance.Color(rgb).enhance(f), alpha), ".png", f"saturation x{f:.2f}"
    if how == "brightness":
        f = rng.choice([rng.uniform(0.75, 0.9), rng.uniform(1.1, 1.25)])
        return _join_alpha(ImageEnhance.Brightness(rgb).enhance(f), alpha), ".png", f"brightness x{f:.2f}"
    if how == "swap":
        order = rng.choice(["RBG", "GRB", "GBR", "BRG", "BGR"])
        bands = dict(zip("RGB", rgb.split(), strict=True))
        out = Image.merge("RGB", [bands[c] for c in order])
        return _join_alpha(out, alpha), ".png", f"channels {order}"
    return _join_alpha(ImageOps.grayscale(rgb).convert("RGB"), alpha), ".png", "greyscale"


CAPTIONS = [
    "New release",
    "Summer sale -30%",
    "Read more",
    "Breaking news",
    "Episode 12",
    "Download now",
    "Limited offer",
    "Join us",
    "Version 2.0",
    "Now on sale",
]


def edit_banner(img: Image.Image, rng: random.Random) -> Edit:
    out = img.copy()
    w, h = out.size
    bh = max(4, round(h * rng.uniform(0.10, 0.25)))
    where = rng.choice(["top", "middle", "bottom"])
    y0 = {"top": 0, "middle": (h - bh) // 2, "bottom": h - bh}[where]
    dark = rng.random() < 0.5
    box = (20, 20, 24, 255) if dark else (245, 244, 238, 255)
    ink = (250, 250, 250, 255) if dark else (15, 15, 15, 255)
    d = ImageDraw.Draw(out)
    d.rectangle((0, y0, w, y0 + bh), fill=box if out.mode == "RGBA" else box[:3])
    text = rng.choice(CAPTIONS)
    d.text(
        (max(2, w // 25), y0 + bh // 5),
        text,
        font=font(max(6, bh * 3 // 5), "sans-bold"),
        fill=ink if out.mode == "RGBA" else ink[:3],
    )
    return out, ".png", f"banner {where} {bh / h:.2f} {'dark' if dark else 'light'}"


def edit_watermark(img: Image.Image, rng: random.Random) -> Edit:
    base = img.convert("RGBA")
    w, h = base.size
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    alpha = rng.randint(80, 170)
    shade = rng.choice([255, 0])
    if rng.random() < 0.6:
        size = max(7, round(h * rng.uniform(0.05, 0.10)))
        text = rng.choice(["© example.com", "@studio", "SAMPLE", "© 2026 ACME", "draft"])
        x, y = rng.randint(0, max(1, w * 2 // 3)), rng.randint(0, max(1, h - size - 2))
        d.text((x, y), text, font=font(size), fill=(shade, shade, shade, alpha))
        what = f"text '{text}' alpha {alpha}"
    else:
        r = max(4, round(min(w, h) * rng.uniform(0.05, 0.10)))
        cx = rng.choice([r + 3, w - r - 3])
        cy = rng.choice([r + 3, h - r - 3])
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(shade, shade, shade, alpha))
        d.text(
            (cx - r // 2, cy - r * 2 // 3),
            "A",
            font=font(r * 4 // 3, "sans-bold"),
            fill=(255 - shade, 255 - shade, 255 - shade, alpha),
        )
        what = f"logo r={r} alpha {alpha}"
    out = Image.alpha_composite(base, layer)
    if img.mode != "RGBA":
        out = out.convert("RGB")
    return out, ".jpg" if img.mode != "RGBA" else ".png", what


def edit_border(img: Image.Image, rng: random.Random) -> Edit:
    w, h = img.size
    colour = rng.choice(
        [
            (0, 0, 0),
            (255, 255, 255),
            (30, 30, 30),
            (200, 200, 200),
            tuple(rng.randint(0, 255) for _ in range(3)),
        ]
    )
    fill = (*colour, 255) if img.mode == "RGBA" else colour
    if rng.random() < 0.5:
        b = max(2, round(min(w, h) * rng.uniform(0.02, 0.08)))
        out = ImageOps.expand(img, border=b, fill=fill)
        return out, ".png", f"border {b}px {colour}"
    target = rng.choice([16 / 9, 1.0, 4 / 5])
    if w / h > target:  # letterbox: pad top and bottom
        nh = round(w / target)
        canvas = Image.new(img.mode, (w, max(nh, h + 4)), fill)
    else:  # pillarbox: pad left and right
        nw = round(h * target)
        canvas = Image.new(img.mode, (max(nw, w + 4), h), fill)
    canvas.paste(img, ((canvas.width - w) // 2, (canvas.height - h) // 2))
    return canvas, ".png", f"pad to {target:.2f} {colour}"


EDITS: dict[str, Callable[[Image.Image, random.Random], Edit]] = {
    "resize": edit_resize,
    "crop": edit_crop,
    "square": edit_square,
    "social": edit_social,
    "recolour": edit_recolour,
    "banner": edit_banner,
    "watermark": edit_watermark,
    "border": edit_border,
}


def apply_edit(
    family: str, img: Image.Image, rng: random.Random, avoid: frozenset[str] = frozenset()
) -> Edit:
    if family != "two":
        return EDITS[family](img, rng)
    allowed = sorted(set(EDITS) - avoid)
    first, second = rng.sample(allowed, 2)
    mid, _, what1 = EDITS[first](img, rng)
    out, ext, what2 = EDITS[second](mid, rng)
    return out, ext, f"{first}: {what1}; {second}: {what2}"


# ---- writing a set ----


def random_colour(rng: random.Random, light: tuple[float, float] = (0.35, 0.75)) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb(rng.random(), rng.uniform(*light), rng.uniform(0.4, 0.9))
    return round(r * 255), round(g * 255), round(b * 255)


def _save(img: Image.Image, path: Path, ext: str, rng: random.Random, original: bool) -> None:
    """Originals are stored near-losslessly; edited JPEGs get a random quality 30-90."""
    if ext == ".jpg":
        img.convert("RGB").save(path, quality=95 if original else rng.randint(30, 90))
    elif ext == ".webp":
        img.save(path, quality=rng.randint(60, 90))
    else:
        img.save(path, optimize=False, compress_level=3)


def _pair_kind(a: Item, b: Item, originals: list[Original]) -> str:
    parts = [f"edit:{f}" for f in (a.family, b.family) if f]
    if a.origin != b.origin:
        parts.append(originals[a.origin].natural_kind or "natural:variant")
    if not parts:
        return "natural:variant"
    naturals = sorted(p for p in parts if p.startswith("natural:"))
    edits = sorted(p.removeprefix("edit:") for p in parts if p.startswith("edit:"))
    return "+".join(naturals + (["edit:" + "+".join(edits)] if edits else []))


def write_set(out: Path, originals: list[Original], rng: random.Random) -> dict[str, int]:
    """Edit ~1/3 of the originals (2-3 seeded edits each), shuffle, write images/ and
    labels.json under out; returns counts."""
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    items = [
        Item(o.image, ".png" if o.image.mode == "RGBA" else o.ext, o.source, i, None)
        for i, o in enumerate(originals)
    ]
    editable = [i for i, o in enumerate(originals) if o.editable]
    for i in sorted(rng.sample(editable, round(len(editable) * EDITED_SHARE))):
        o = originals[i]
        for family in rng.sample([f for f in FAMILIES if f not in o.avoid], rng.choice([2, 3])):
            img, ext, what = apply_edit(family, o.image, rng, o.avoid)
            items.append(Item(img, ext, f"{family} ({what}) < {o.source}", i, family))
    rng.shuffle(items)
    names: list[str] = []
    for n, it in enumerate(items):
        name = f"img_{n:04d}{it.ext}"
        _save(it.image, out / "images" / name, it.ext, rng, it.family is None)
        names.append(name)
    return _write_labels(out, names, items, originals)


def _write_labels(
    out: Path, names: list[str], items: list[Item], originals: list[Original]
) -> dict[str, int]:
    by_group: dict[str, list[int]] = {}
    for k, it in enumerate(items):
        o = originals[it.origin]
        by_group.setdefault(o.natural or f"orig{it.origin}", []).append(k)
    groups, kinds = [], {}
    for members in by_group.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda k: names[k])
        groups.append([names[k] for k in members])
        for x, a in enumerate(members):
            for b in members[x + 1 :]:
                kinds[f"{names[a]}|{names[b]}"] = _pair_kind(items[a], items[b], originals)
    negatives = {
        names[k]: originals[it.origin].negative for k, it in enumerate(items) if originals[it.origin].negative
    }
    labels = {
        "groups": sorted(groups),
        "kinds": kinds,
        "sources": {names[k]: it.source for k, it in enumerate(items)},
        "negatives": negatives,
    }
    (out / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True))
    return {
        "images": len(items),
        "originals": len(originals),
        "groups": len(groups),
        "positive_pairs": len(kinds),
        "hard_negative_images": len(negatives),
    }
