"""The `text` set: pages and UI-like screens rendered from fonts, many per layout. Same layout
with different text is a hard negative: a gate that keys on layout blocks every new page."""

from __future__ import annotations

import random
from pathlib import Path

from common import Original, font
from PIL import Image, ImageDraw

_VOCABULARY = (
    "the of and to in is that for it as with was on be by this are from or at which an have not but "
    "all can more one their has its when will about there been would into other than time system "
    "image file build test layout colour release change value window user data report update support "
    "error network memory review design project version server client policy option reason result "
    "method sample format quality number window screen library package source module manual garden "
    "river mountain market kitchen winter summer harbour station village forest orange silver copper "
    "marble signal pocket ladder basket candle"
)
WORDS = _VOCABULARY.split()
NAMES = [
    "Alice Moreau",
    "Bram Visser",
    "Chen Wei",
    "Dana Okafor",
    "Emil Novak",
    "Farah Haddad",
    "Greta Lind",
    "Hugo Silva",
    "Ines Duarte",
    "Jonas Berg",
    "Kiri Tane",
    "Lena Vogel",
    "Mateo Ruiz",
    "Nora Quinn",
    "Omar Said",
    "Priya Nair",
    "Quentin Roy",
    "Rosa Klein",
]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def sentence(rng: random.Random, lo: int = 6, hi: int = 14) -> str:
    s = words(rng, rng.randint(lo, hi))
    return s[0].upper() + s[1:] + "."


def _wrap(d: ImageDraw.ImageDraw, text: str, fnt: object, width: int) -> list[str]:
    lines, line = [], ""
    for w in text.split():
        trial = f"{line} {w}".strip()
        if d.textlength(trial, font=fnt) > width and line:  # type: ignore[arg-type]
            lines.append(line)
            line = w
        else:
            line = trial
    return [*lines, line] if line else lines


def page(rng: random.Random, face: str) -> Image.Image:
    """An A4-like article page: title, byline, justified-ish paragraphs, page number."""
    img = Image.new("RGB", (760, 1075), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((70, 70), sentence(rng, 3, 6).rstrip("."), font=font(34, "sans-bold"), fill=(20, 20, 20))
    d.text(
        (70, 125),
        f"{rng.choice(NAMES)} · {rng.randint(1, 28)} March 2026",
        font=font(16, face),
        fill=(90, 90, 90),
    )
    body = font(17, face)
    y = 175
    while y < 960:
        for line in _wrap(d, " ".join(sentence(rng) for _ in range(rng.randint(2, 5))), body, 620):
            if y > 980:
                break
            d.text((70, y), line, font=body, fill=(30, 30, 30))
            y += 26
        y += 18
    d.text((370, 1020), str(rng.randint(2, 300)), font=font(14, face), fill=(120, 120, 120))
    return img


def slide(rng: random.Random) -> Image.Image:
    """One presentation template: header band, title, bullets, footer."""
    img = Image.new("RGB", (1280, 720), (250, 250, 247))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 1280, 110), fill=(30, 60, 110))
    title = sentence(rng, 2, 5).rstrip(".")
    d.text((60, 30), title, font=font(46, "liberation-sans-bold"), fill=(255, 255, 255))
    for k in range(rng.randint(3, 6)):
        y = 170 + k * 88
        d.ellipse((70, y + 14, 86, y + 30), fill=(30, 60, 110))
        d.text((110, y), words(rng, rng.randint(3, 8)), font=font(34, "liberation-sans"), fill=(30, 30, 30))
    d.text(
        (60, 670),
        f"Quarterly review · {rng.randint(1, 40)}",
        font=font(20, "liberation-sans"),
        fill=(120, 120, 120),
    )
    return img


KEYWORDS = ["def", "return", "if", "for", "import", "class", "while", "with"]


def code(rng: random.Random) -> Image.Image:
    """An editor screenshot: dark theme, gutter with line numbers, coloured tokens."""
    img = Image.new("RGB", (1000, 640), (30, 32, 40))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 1000, 34), fill=(45, 48, 60))
    filename = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}.py"
    d.text((16, 8), filename, font=font(16, "mono"), fill=(200, 200, 210))
    d.rectangle((0, 34, 54, 640), fill=(38, 40, 50))
    mono = font(17, "mono")
    start = rng.randint(1, 400)
    for k in range(28):
        y = 44 + k * 21
        d.text((8, y), f"{start + k:4d}", font=mono, fill=(110, 115, 130))
        x = 70 + 20 * rng.randint(0, 3)
        for _ in range(rng.randint(0, 6)):
            tok = rng.choice(KEYWORDS) if rng.random() < 0.3 else rng.choice(WORDS)
            colour = (
                (200, 120, 220)
                if tok in KEYWORDS
                else rng.choice([(220, 220, 220), (140, 200, 120), (240, 180, 90)])
            )
            d.text((x, y), tok, font=mono, fill=colour)
            x += int(d.textlength(tok + " ", font=mono))
    return img


def dialog(rng: random.Random) -> Image.Image:
    """A settings dialog: same fields and buttons, different labels and values."""
    img = Image.new("RGB", (640, 460), (236, 236, 236))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 640, 36), fill=(60, 60, 66))
    ui = font(15, "liberation-sans")
    d.text((14, 9), f"{rng.choice(WORDS).title()} settings", font=ui, fill=(240, 240, 240))
    for k in range(6):
        y = 60 + k * 52
        d.text((24, y + 6), words(rng, rng.randint(1, 3)).capitalize() + ":", font=ui, fill=(20, 20, 20))
        d.rectangle((220, y, 610, y + 32), fill=(255, 255, 255), outline=(160, 160, 160))
        d.text((230, y + 7), words(rng, rng.randint(1, 4)), font=ui, fill=(40, 40, 40))
    for x, label in ((370, "Cancel"), (500, "OK")):
        d.rounded_rectangle((x, 400, x + 110, 436), 5, fill=(250, 250, 250), outline=(140, 140, 140))
        d.text((x + 55, 418), label, font=ui, fill=(20, 20, 20), anchor="mm")
    return img


def app_list(rng: random.Random) -> Image.Image:
    """A mail-like app: sidebar, toolbar, rows of sender/subject/date."""
    img = Image.new("RGB", (1024, 640), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 220, 640), fill=(242, 244, 248))
    d.rectangle((220, 0, 1024, 50), fill=(250, 250, 252))
    ui = font(15, "sans")
    selected = 74 + 34 * rng.randint(0, 5)
    d.rectangle((20, selected, 210, selected + 28), fill=(215, 225, 245))
    for k, folder in enumerate(["Inbox", "Starred", "Sent", "Drafts", "Archive", "Spam"]):
        d.text((30, 80 + k * 34), folder, font=ui, fill=(40, 40, 60))
    for k in range(12):
        y = 60 + k * 48
        d.line((220, y + 46, 1024, y + 46), fill=(230, 230, 235))
        d.text((240, y + 14), rng.choice(NAMES), font=font(15, "sans-bold"), fill=(20, 20, 30))
        d.text((420, y + 14), sentence(rng, 4, 9), font=ui, fill=(70, 70, 80))
        d.text((940, y + 14), f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}", font=ui, fill=(120, 120, 130))
    return img


def table(rng: random.Random) -> Image.Image:
    """A spreadsheet: one grid and header, different numbers."""
    img = Image.new("RGB", (900, 560), (255, 255, 255))
    d = ImageDraw.Draw(img)
    cell = font(14, "liberation-sans")
    d.rectangle((0, 0, 900, 32), fill=(220, 230, 220))
    for c, head in enumerate(["Item", "Q1", "Q2", "Q3", "Q4", "Total"]):
        d.text((12 + c * 148, 8), head, font=font(14, "liberation-sans-bold"), fill=(20, 40, 20))
    for r in range(1, 20):
        y = 4 + r * 28
        d.line((0, y - 4, 900, y - 4), fill=(215, 215, 215))
        d.text((12, y), rng.choice(WORDS).title(), font=cell, fill=(20, 20, 20))
        vals = [rng.randint(0, 9999) for _ in range(4)]
        for c, v in enumerate([*vals, sum(vals)]):
            d.text((12 + (c + 1) * 148, y), f"{v:,}", font=cell, fill=(20, 20, 20))
    for c in range(1, 6):
        d.line((c * 148, 0, c * 148, 560), fill=(215, 215, 215))
    return img


def text(rng: random.Random, cache: Path) -> list[Original]:
    out = [
        Original(page(rng, face), f"article page ({face})", "text:page")
        for face in ["serif"] * 20 + ["liberation-sans"] * 20
    ]
    makers = [
        (slide, "text:slide", 20),
        (code, "text:code", 20),
        (dialog, "ui:dialog", 25),
        (app_list, "ui:list", 25),
        (table, "text:table", 20),
    ]
    for make, tag, n in makers:
        out += [Original(make(rng), tag.split(":")[1], tag) for _ in range(n)]
    return out
