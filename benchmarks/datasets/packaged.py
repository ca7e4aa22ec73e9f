"""Sets made of raster images shipped in Debian packages: `games` (sprites, animation frames,
tiles), `icons` (two icon themes; one icon at several sizes is a natural positive), `docs`
(GIMP manual screenshots: one UI, different content), `photos` (textures, terrains, skyboxes)."""

from __future__ import annotations

import random
import re
import struct
from collections.abc import Iterable
from pathlib import Path

from common import MIN_SIDE, Original, alpha_only, fit
from debian import package_root, source_name
from PIL import Image

RASTER = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
NO_RECOLOUR = frozenset({"recolour", "two"})  # bubbles differ only by colour
EXAMPLE = re.compile(r"-ex\d*\b|-ex[-.]|example|orig|before|after|result", re.IGNORECASE)


def open_image(path: Path) -> Image.Image | None:
    """The first frame as RGB/RGBA, or None for what Pillow cannot read or is too small."""
    try:
        with Image.open(path) as im:
            im.seek(0)
            im.load()
            img = fit(im.convert("RGBA") if im.mode in ("P", "LA", "PA") else im)
    except (OSError, ValueError, SyntaxError):
        return None
    return None if min(img.size) < MIN_SIDE else img


def rasters(root: Path, pattern: str) -> list[Path]:
    """Raster files, symlinks left out: an icon theme's aliases (gtk-directory -> folder) are
    the same picture under another name, and must not meet it at another size as a negative."""
    return sorted(p for p in root.glob(pattern) if p.suffix.lower() in RASTER and not p.is_symlink())


def pick(rng: random.Random, paths: list[Path], k: int) -> list[Path]:
    """k of the paths, drawn with the set's generator, in a stable order."""
    return sorted(rng.sample(paths, min(k, len(paths))))


def originals(cache: Path, paths: Iterable[Path], tag: str | None, **kw: object) -> list[Original]:
    """Originals from files; an image whose content lives only in its alpha channel is tagged
    "alpha" whatever its folder: that, not the folder, is what it shares with the others."""
    out = []
    for p in paths:
        img = open_image(p)
        if img is not None:
            ext = ".jpg" if p.suffix.lower() in (".jpg", ".jpeg") else ".png"
            family = "alpha" if alpha_only(img) else tag
            out.append(Original(img, source_name(cache, p), family, ext=ext, **kw))  # type: ignore[arg-type]
    return out


def games(rng: random.Random, cache: Path) -> list[Original]:
    """Frozen Bubble and Pingus: animation frames of one penguin, sprite sheets of one
    character, ground tiles of one tileset, bubbles that differ only by colour, flags."""
    fb = package_root(cache, "frozen-bubble-data") / "usr/share/games/frozen-bubble/gfx"
    pg = package_root(cache, "pingus-data") / "usr/share/games/pingus/data/images"
    out: list[Original] = []
    for anim, step in (("loose_p1", 10), ("wait_p1", 10), ("anime-shooter_p1", 7)):
        out += originals(cache, rasters(fb / "pinguins", f"{anim}_*.png")[::step], "frames")
    out += originals(cache, rasters(fb / "balls", "bubble-[0-9].gif"), "balls", avoid=NO_RECOLOUR)
    out += originals(cache, pick(rng, rasters(fb / "flags", "*.png"), 20), "flags")
    pairs = _mini_pairs(fb)
    in_pairs = {p for pair in pairs for p in pair}
    out += originals(cache, pick(rng, [p for p in rasters(fb, "*.png") if p not in in_pairs], 25), None)
    for big, mini in pairs:  # the game ships some pictures twice: full size and "-mini"
        out += originals(cache, [big, mini], None, natural=f"fb/{big.stem}", natural_kind="natural:size")
    out += originals(cache, rasters(pg / "pingus/player0", "*.png"), "frames:sheet")
    tiles = [
        p for p in rasters(pg / "groundpieces", "**/*.png") if "/ground/" in str(p) and "/test/" not in str(p)
    ]
    out += originals(cache, pick(rng, tiles, 45), "tiles")
    out += originals(cache, rasters(pg / "entrances", "*.png") + rasters(pg / "exits", "*.png"), "objects")
    return out


def _mini_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """(picture, its "-mini" copy) where the mini is big enough to keep."""
    pairs = []
    for mini in rasters(folder, "*-mini.png"):
        big = mini.with_name(mini.name.replace("-mini", ""))
        if big.exists() and _big_enough(mini, MIN_SIDE):
            pairs.append((big, mini))
    return pairs


def _size_groups(
    rng: random.Random, theme: Path, sizes: list[str], n_groups: int, n_single: int, exclude: set[str]
) -> tuple[list[tuple[str, list[Path]]], list[Path]]:
    """Icon names present at every size in `sizes` (natural:size groups) and single icons."""
    by_name: dict[str, dict[str, Path]] = {}
    for size in sizes:
        for p in rasters(theme / size, "*/*.png"):
            by_name.setdefault(f"{p.parent.name}/{p.stem}", {})[size] = p
    names = sorted(n for n in by_name if n.split("/")[1] not in exclude)
    full = [n for n in names if len(by_name[n]) == len(sizes)]
    grouped = sorted(rng.sample(full, min(n_groups, len(full))))
    rest = [n for n in names if n not in set(grouped)]
    chosen = sorted(rng.sample(rest, min(n_single, len(rest))))
    singles = [by_name[n][rng.choice(sorted(by_name[n]))] for n in chosen]
    return [(n, [by_name[n][s] for s in sizes]) for n in grouped], singles


def icons(rng: random.Random, cache: Path) -> list[Original]:
    """GNOME and Tango icons: one style per theme (hard negatives), one icon at 48 and 256 px
    (GNOME) or 24 and 32 px (Tango, redrawn per size) as natural:size positives."""
    gnome = package_root(cache, "gnome-icon-theme") / "usr/share/icons/gnome"
    tango = package_root(cache, "tango-icon-theme") / "usr/share/icons/Tango"
    g_groups, g_single = _size_groups(rng, gnome, ["48x48", "256x256"], 30, 40, set())
    used = {n.split("/")[1] for n, _ in g_groups} | {p.stem for p in g_single}
    t_groups, t_single = _size_groups(rng, tango, ["24x24", "32x32"], 15, 55, used)
    out: list[Original] = []
    for theme, groups, singles in (("gnome", g_groups, g_single), ("tango", t_groups, t_single)):
        tag = f"icon:{theme}"
        for name, paths in groups:
            out += originals(cache, paths, tag, natural=f"{theme}/{name}", natural_kind="natural:size")
        out += originals(cache, singles, tag)
    return out


def docs(rng: random.Random, cache: Path) -> list[Original]:
    """GIMP manual screenshots: dialogs, menus, tool options, preferences: one application's
    look, different content."""
    images = package_root(cache, "gimp-help-en") / "usr/share/gimp/2.0/help/en/images"
    out: list[Original] = []
    # Not using/, toolbox/, tool-options/, filters/ nor any "-ex"/example/original file: their
    # example pictures recur edited from page to page (a photo, then the same photo masked),
    # pairs that are neither clearly duplicates nor clearly distinct.
    folders = (("dialogs", "*.png", 70), ("menus", "**/*.png", 80), ("preferences", "*.png", 25))
    for folder, pattern, k in folders:
        paths = [
            p for p in rasters(images / folder, pattern) if _big_enough(p, 100) and not EXAMPLE.search(p.name)
        ]
        out += originals(cache, pick(rng, paths, k), f"ui:{folder}")
    return out


def _big_enough(path: Path, side: int) -> bool:
    try:
        with Image.open(path) as im:
            return min(im.size) >= side
    except (OSError, ValueError, SyntaxError):
        return False


def read_gimp_pattern(path: Path) -> Image.Image | None:
    """GIMP .pat: big-endian header (size, version, width, height, bytes, 'GPAT', name), then pixels."""
    raw = path.read_bytes()
    header, _, width, height, depth = struct.unpack(">5I", raw[:20])
    if raw[20:24] != b"GPAT" or depth not in (1, 2, 3, 4):
        return None
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[depth]
    pixels = raw[header : header + width * height * depth]
    if len(pixels) < width * height * depth:
        return None
    return fit(Image.frombytes(mode, (width, height), pixels).convert("RGBA" if depth in (2, 4) else "RGB"))


def photos(rng: random.Random, cache: Path) -> list[Original]:
    """Textures and photo-like images: GIMP patterns and script textures, Extreme Tux Racer
    terrains, textures and sky boxes (front/left/right faces, each at two resolutions)."""
    gimp = package_root(cache, "gimp-data") / "usr/share/gimp/2.0"
    etr = package_root(cache, "extremetuxracer-data") / "usr/share/games/etr"
    out: list[Original] = []
    for p in sorted((gimp / "patterns").rglob("*.pat")):
        img = read_gimp_pattern(p)
        if img is not None and min(img.size) >= MIN_SIDE:
            out.append(Original(img, source_name(cache, p), "texture:pattern"))
    out += originals(cache, rasters(gimp / "scripts/images", "*.jpg"), "texture:pattern")
    out += originals(cache, rasters(etr / "terrains", "*"), "texture:terrain")
    textures = [p for p in rasters(etr / "textures", "*") if _big_enough(p, 64)]
    out += originals(cache, textures, None)
    for env in sorted(p for p in (etr / "env/etr").iterdir() if p.is_dir()):
        for face in ("front", "left", "right"):
            paths = [env / f"{face}.png", env / f"{face}H.png"]
            out += originals(
                cache,
                [p for p in paths if p.exists()],
                "skybox",
                natural=f"{env.name}/{face}",
                natural_kind="natural:size",
            )
    return out
