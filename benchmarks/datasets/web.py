"""The `web` set: screenshots of the Python 3.11 documentation (python3.11-doc's HTML and CSS),
rendered offline by headless Chromium. Every page shares the site's template (header, sidebar,
fonts, code boxes): different pages, or the top and the scrolled part of one page, are hard
negatives. A page rendered again in a dark palette (an injected stylesheet, as a site's dark
mode or a dark-mode extension does) is a natural:light-dark positive of the light one."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from common import Original, fit
from debian import FONT_PACKAGES, installed_version, package_root, source_name
from PIL import Image

PACKAGE = "python3.11-doc"
HTML = "usr/share/doc/python3.11/html"
PAGES = 48  # pages rendered in the light palette
DARK_PAGES = 30  # of those, also rendered dark
WINDOWS = [(1280, 800), (1024, 768), (1440, 900), (800, 1000), (412, 860)]  # desktop to phone
PAGE_BYTES = (40_000, 400_000)  # long enough for a second screen, short enough to render fast
SKIP = re.compile(r"genindex|search\.html|py-modindex|contents\.html|changelog|_static|_sources")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]
# Two kinds of dark mode: a blanket inversion (images inverted back), and a dark theme that
# resets backgrounds and text colours (code keeps a colour of its own; pygments' is lost).
DARK_STYLES = {
    "invert": "html{background:#fff;filter:invert(1) hue-rotate(180deg)}"
    " img,svg{filter:invert(1) hue-rotate(180deg)}",
    "theme": "*{background-color:transparent !important;color:#d4d4d4 !important;"
    "border-color:#44474a !important} html{background-color:#1e1f21 !important}"
    " a,a *{color:#82b1ff !important} pre,div.highlight,code,tt,div.admonition,div.note,"
    "div.warning,div.seealso,input{background-color:#2a2c2f !important}"
    " pre *,code *{color:#e5c07b !important}",
}
# Chromium draws text with the cached Debian fonts only, so the pixels do not depend on the
# fonts this machine happens to have.
FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
{dirs}
 <cachedir>{cachedir}</cachedir>
 <alias binding="same"><family>sans-serif</family><prefer><family>DejaVu Sans</family></prefer></alias>
 <alias binding="same"><family>serif</family><prefer><family>DejaVu Serif</family></prefer></alias>
 <alias binding="same"><family>monospace</family><prefer><family>DejaVu Sans Mono</family></prefer></alias>
 <alias binding="same"><family>Arial</family><prefer><family>Liberation Sans</family></prefer></alias>
 <alias binding="same"><family>Helvetica</family><prefer><family>Liberation Sans</family></prefer></alias>
</fontconfig>
"""


class Browser:
    """Headless Chromium, one fresh profile per screenshot, in a scratch directory."""

    def __init__(self, cache: Path, tmp: Path) -> None:
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            raise SystemExit("the web set needs Chromium: apt-get install -y chromium")
        self.exe = exe
        self.version = installed_version("chromium")
        self.tmp = tmp
        dirs = [package_root(cache, p) / "usr/share/fonts" for p in FONT_PACKAGES]
        conf = tmp / "fonts.conf"
        conf.write_text(
            FONTS_CONF.format(dirs="\n".join(f" <dir>{d}</dir>" for d in dirs), cachedir=tmp / "fc")
        )
        self.env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
        self.shots = 0

    def screenshot(self, url: str, size: tuple[int, int]) -> Image.Image:
        self.shots += 1
        out = self.tmp / f"shot{self.shots}.png"
        profile = self.tmp / f"profile{self.shots}"
        cmd = [
            self.exe,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={out}",
            f"--window-size={size[0]},{size[1]}",
            url,
        ]
        run = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=90)
        shutil.rmtree(profile, ignore_errors=True)
        if not out.exists():
            raise SystemExit(f"chromium wrote no screenshot of {url}:\n{run.stderr[-2000:]}")
        with Image.open(out) as im:
            img = im.convert("RGB")
        out.unlink()
        return img


def dark_copy(page: Path, style: str, tmp: Path) -> Path:
    """A copy of the page with a dark stylesheet last in <head>; a <base> keeps its links."""
    html = page.read_text(encoding="utf-8", errors="replace")
    base = f'<base href="{page.parent.as_uri()}/">'
    html = re.sub(r"<head[^>]*>", lambda m: m.group(0) + base, html, count=1, flags=re.IGNORECASE)
    html = re.sub(r"</head>", f"<style>{DARK_STYLES[style]}</style></head>", html, count=1, flags=re.I)
    out = tmp / "dark.html"
    out.write_text(html, encoding="utf-8")
    return out


def has_content(tile: Image.Image) -> bool:
    """Text or boxes over most of the height: not the empty end of a short page."""
    a = np.asarray(tile.convert("L").reduce(4), dtype=np.int16)
    background = int(np.bincount(a.ravel()).argmax())
    ink = np.abs(a - background) > 40
    return float(ink.mean()) > 0.02 and float(ink.any(axis=1).mean()) > 0.5


def pages(root: Path) -> list[Path]:
    html = root / HTML
    return sorted(
        p
        for p in html.rglob("*.html")
        if not SKIP.search(str(p.relative_to(html))) and PAGE_BYTES[0] <= p.stat().st_size <= PAGE_BYTES[1]
    )


def web(rng: random.Random, cache: Path) -> list[Original]:
    """Each page at one window size, rendered twice as tall: its first screen and the next one
    are two originals; dark renders are cut the same way."""
    root = package_root(cache, PACKAGE)
    chosen = sorted(rng.sample(pages(root), PAGES))
    dark = set(rng.sample(chosen, DARK_PAGES))
    out: list[Original] = []
    with tempfile.TemporaryDirectory(prefix="dupgate-web-") as scratch:
        tmp = Path(scratch)
        browser = Browser(cache, tmp)
        for page in chosen:
            w, h = rng.choice(WINDOWS)
            style = rng.choice(sorted(DARK_STYLES)) if page in dark else None
            light = browser.screenshot(page.as_uri(), (w, 2 * h))
            night = browser.screenshot(dark_copy(page, style, tmp).as_uri(), (w, 2 * h)) if style else None
            where = f"{source_name(cache, page)} at {w}x{h}, chromium {browser.version}"
            for k, label in enumerate(("top", "scrolled")):
                box = (0, k * h, w, (k + 1) * h)
                tile = light.crop(box)
                if not has_content(tile):
                    continue
                group = f"{page.relative_to(root / HTML)}#{label}" if night else None
                kind = "natural:light-dark" if night else ""
                out.append(Original(fit(tile), f"{where}, {label}", "web:page", group, kind))
                if night:
                    src = f"{where}, {label}, dark ({style})"
                    out.append(Original(fit(night.crop(box)), src, "web:page-dark", group, kind))
    return out
