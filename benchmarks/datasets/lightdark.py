"""The `lightdark` set: Adwaita's symbolic icons (adwaita-icon-theme's scalable SVGs) rendered by
rsvg-convert on an opaque canvas, in a light palette (dark glyph on a light background) or a
dark one (light glyph on a dark background), neutral or tinted. One icon in both palettes, or
its light rendering inverted and tinted, is a natural:light-dark positive; other icons of the
theme in the same palette are hard negatives (one style, one layout, a different glyph)."""

from __future__ import annotations

import colorsys
import io
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import Original, same_picture, signature
from debian import installed_version, package_root, source_name
from PIL import Image, ImageOps

PACKAGE = "adwaita-icon-theme"
THEME = "usr/share/icons/Adwaita/scalable"
SKIP_CONTEXTS = {"ui", "apps"}  # ui/: arrows and check marks a pixel apart; apps/: one icon
CANVASES = (64, 96, 128, 192, 256)
GLYPH_SHARE = 0.75  # of the canvas side, centred: the theme's 16 px grid keeps its own margin
# how many icons play each role, in this order
ROLES = {"light+dark": 40, "light+inverted": 20, "light": 25, "dark": 20}
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    """Background and glyph colours of the light and the dark variant of one design."""

    name: str
    light: tuple[RGB, RGB]
    dark: tuple[RGB, RGB]


NEUTRAL = Palette("neutral", ((250, 250, 250), (46, 52, 54)), ((36, 36, 36), (238, 238, 236)))


def _hls(h: float, lightness: float, saturation: float) -> RGB:
    r, g, b = colorsys.hls_to_rgb(h, lightness, saturation)
    return round(r * 255), round(g * 255), round(b * 255)


def palette(rng: random.Random) -> Palette:
    """Adwaita's own greys half the time, else one hue: a pale and a deep shade of it."""
    if rng.random() < 0.5:
        return NEUTRAL
    h = rng.random()
    light = (_hls(h, 0.94, 0.5), _hls(h, 0.22, 0.6))
    dark = (_hls(h, 0.13, 0.35), _hls(h, 0.86, 0.6))
    return Palette(f"hue {h * 360:.0f}", light, dark)


def render_svg(path: Path, side: int) -> Image.Image:
    """The icon as RGBA at side x side (rsvg-convert reads the SVG from stdin)."""
    run = subprocess.run(
        ["rsvg-convert", "-w", str(side), "-h", str(side), "-f", "png"],
        input=path.read_bytes(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    if run.returncode != 0:
        raise SystemExit(f"rsvg-convert failed on {path}: {run.stderr.decode(errors='replace')[-500:]}")
    with Image.open(io.BytesIO(run.stdout)) as im:
        return im.convert("RGBA")


def on_canvas(glyph: Image.Image, canvas: int, background: RGB, ink: RGB) -> Image.Image:
    """The glyph centred on an opaque canvas. As GTK recolours symbolic icons, grey (unsaturated)
    strokes take the palette's glyph colour; accent colours (green, orange, red) stay."""
    a = np.asarray(glyph).astype(np.float32)
    rgb = a[..., :3]
    grey = (rgb.max(axis=2) - rgb.min(axis=2)) < 40
    rgb[grey] = ink
    recoloured = Image.fromarray(np.dstack([rgb, a[..., 3]]).round().astype(np.uint8), "RGBA")
    out = Image.new("RGBA", (canvas, canvas), (*background, 255))
    offset = (canvas - glyph.width) // 2
    out.alpha_composite(recoloured, (offset, offset))
    return out.convert("RGB")


def invert_and_tint(img: Image.Image, tint: RGB) -> Image.Image:
    """The picture inverted (a light page turned dark), then multiplied by a tint."""
    inverted = np.asarray(ImageOps.invert(img), dtype=np.float32)
    return Image.fromarray((inverted * np.array(tint, np.float32) / 255).round().astype(np.uint8), "RGB")


def icon_paths(root: Path) -> list[Path]:
    found = (root / THEME).glob("*/*-symbolic.svg")
    return sorted(p for p in found if p.parent.name not in SKIP_CONTEXTS and not p.is_symlink())


def distinct_icons(rng: random.Random, paths: list[Path], n: int) -> list[tuple[Path, Image.Image, int]]:
    """n icons in a seeded order, each rendered for a drawn canvas size, skipping any whose glyph
    looks the same as an earlier one's (e.g. a legacy name drawn like a current icon): two such
    icons in different palettes would be a light-dark pair labelled distinct."""
    order = list(paths)
    rng.shuffle(order)
    kept: list[tuple[Path, Image.Image, int]] = []
    masks: list[np.ndarray] = []
    for path in order:
        canvas = rng.choice(CANVASES)
        glyph = render_svg(path, round(canvas * GLYPH_SHARE))
        mask = signature(on_canvas(glyph, canvas, (255, 255, 255), (0, 0, 0)))
        if glyph.getchannel("A").getbbox() is None or any(same_picture(mask, m) for m in masks):
            continue
        kept.append((path, glyph, canvas))
        masks.append(mask)
        if len(kept) == n:
            break
    return kept


def lightdark(rng: random.Random, cache: Path) -> list[Original]:
    """Icons in pairs (light and dark, or light and inverted-tinted) and single icons in either
    palette; tags icon:symbolic-light / icon:symbolic-dark by background."""
    if shutil.which("rsvg-convert") is None:
        raise SystemExit("the lightdark set needs rsvg-convert: apt-get install -y librsvg2-bin")
    renderer = f"rsvg-convert {installed_version('librsvg2-bin')}"
    root = package_root(cache, PACKAGE)
    icons = distinct_icons(rng, icon_paths(root), sum(ROLES.values()))
    roles = [role for role, n in ROLES.items() for _ in range(n)]
    out: list[Original] = []
    for (path, glyph, canvas), role in zip(icons, roles, strict=False):
        pal = palette(rng)
        where = f"{source_name(cache, path)} at {canvas} px by {renderer}, {pal.name}"
        group = f"adwaita/{path.stem}" if "+" in role else None
        kind = "natural:light-dark" if group else ""
        light = on_canvas(glyph, canvas, *pal.light)
        if "light" in role:
            out.append(Original(light, f"{where} light", "icon:symbolic-light", group, kind))
        if "dark" in role:
            dark = on_canvas(glyph, canvas, *pal.dark)
            out.append(Original(dark, f"{where} dark", "icon:symbolic-dark", group, kind))
        if role == "light+inverted":
            tint = _hls(rng.random(), rng.uniform(0.7, 0.85), rng.uniform(0.4, 0.8))
            src = f"{where} light, inverted and tinted x{tint}"
            out.append(Original(invert_and_tint(light, tint), src, "icon:symbolic-dark", group, kind))
    return out
