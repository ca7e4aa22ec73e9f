"""A self-contained HTML page of near-duplicate pairs: judging "the same?" needs eyes.

Everything is inline (thumbnails as data: URIs, CSS in the page), so the file opens from
disk, offline, and can be attached to a CI run. The page runs no script and its content
security policy allows none; every name from the repository goes through `html.escape`,
so a file called `<img src=x onerror=...>.png` shows as text.
"""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape

from dupgate_hook import images
from dupgate_hook.calibrate import Calibration
from dupgate_hook.compare import Pair, clusters
from dupgate_hook.errors import ImageError
from dupgate_hook.report import Outcome, acceptance_text, allow_command, evidence_text

THUMB_SIDE = 240
MAX_PAIRS_SHOWN = 1000  # past this the page gets too heavy to open on a phone

_STYLE = """
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#59636e;--bg:#fff;--card:#f6f8fa;--line:#d1d9e0;
--hot:#cf222e;--ok:#1a7f37}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#151b23;
--line:#3d444d;--hot:#ff7b72;--ok:#3fb950}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1100px;padding:16px;font:15px/1.45 system-ui,sans-serif;color:var(--fg);
background:var(--bg)}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:1.2em 0 .4em}
.meta{color:var(--muted);margin:0 0 1em}
code{font:13px ui-monospace,monospace;word-break:break-all}
section.cluster{border:1px solid var(--line);border-radius:8px;padding:8px 12px;margin:12px 0}
.strip{display:flex;gap:6px;overflow-x:auto;padding-bottom:4px}
.strip img{height:64px;width:auto;border-radius:4px;border:1px solid var(--line)}
.pair{display:grid;grid-template-columns:1fr 7.5em 1fr;gap:10px;align-items:center;
background:var(--card);border-radius:8px;padding:10px;margin:8px 0}
figure{margin:0;min-width:0;text-align:center}
figure img{max-width:100%;height:auto;max-height:240px;border-radius:4px;background:#fff}
figcaption{font-size:13px;color:var(--muted)}figcaption code{color:var(--fg);display:block}
.score{text-align:center}.score b{display:block;font-size:1.6em;color:var(--hot)}
.accepted .score b{color:var(--ok)}
.score span{display:block;font-size:12px;color:var(--muted)}
.reason{font-size:13px;color:var(--muted)}
.next{grid-column:1/-1;font-size:13px;color:var(--muted)}.next code{display:inline}
b.new{display:inline-block;font-size:12px;color:var(--bg);background:var(--hot);border-radius:4px;
padding:0 6px;margin:2px 0}
details{margin:14px 0}summary{cursor:pointer;font-weight:600}
.missing{padding:2em 0;color:var(--muted)}
.frame{position:relative;display:inline-block;max-width:100%;overflow:hidden;border-radius:4px}
.frame img{display:block}
.region{position:absolute;border:2px solid var(--hot);box-shadow:0 0 0 9999px rgba(0,0,0,.35)}
pre{white-space:pre-wrap;overflow-wrap:anywhere;font:13px/1.5 ui-monospace,monospace}
table{border-collapse:collapse}td{padding:2px 8px;border-bottom:1px solid var(--line)}
@media (max-width:640px){.pair{grid-template-columns:1fr}.score b{display:inline;margin-right:.4em}
.score span{display:inline}}
"""


@dataclass(frozen=True)
class Thumb:
    """One image as the page shows it: a small JPEG plus the facts about the file."""

    data_uri: str | None  # None: the file could not be read now
    width: int
    height: int
    size_bytes: int
    problem: str = ""


class Thumbs:
    """Thumbnails made once per file, however many pairs show it."""

    def __init__(self, resolve: Callable[[str], str], max_pixels: int) -> None:
        self._resolve = resolve
        self._max_pixels = max_pixels
        self._made: dict[str, Thumb] = {}

    def __getitem__(self, path: str) -> Thumb:
        if path not in self._made:
            self._made[path] = self._make(self._resolve(path))
        return self._made[path]

    def _make(self, fs_path: str) -> Thumb:
        try:
            size = os.path.getsize(fs_path)
            # Shown as the local backend sees it: a white glyph on transparency is not a blank tile.
            loaded = images.load(fs_path, THUMB_SIDE, self._max_pixels, images.VISIBLE)
        except ImageError as exc:
            return Thumb(None, 0, 0, 0, exc.reason)
        except OSError as exc:
            return Thumb(None, 0, 0, 0, exc.strerror or str(exc))
        buf = io.BytesIO()
        loaded.image.save(buf, "JPEG", quality=80)
        uri = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        return Thumb(uri, loaded.width, loaded.height, size)


def audit_page(outcome: Outcome, thumbs: Thumbs, title: str = "dupgate report") -> str:
    """Clusters of un-accepted pairs as rows, best score first; accepted pairs folded away."""
    blocking = outcome.blocking
    groups = clusters(blocking)
    by_member = {path: n for n, group in enumerate(groups) for path in group}
    pairs_of: list[list[Pair]] = [[] for _ in groups]
    for pair in blocking:
        pairs_of[by_member[pair.a]].append(pair)
    order = sorted(range(len(groups)), key=lambda n: (-max(p.score for p in pairs_of[n]), groups[n]))
    shown = 0
    body: list[str] = []
    for rank, n in enumerate(order, 1):
        if shown >= MAX_PAIRS_SHOWN:
            body.append(
                f"<p class=meta>… {len(order) - rank + 1} more cluster(s) not shown "
                f"(the page shows the first {MAX_PAIRS_SHOWN} pairs; use --format json for all)</p>"
            )
            break
        pairs = pairs_of[n][: MAX_PAIRS_SHOWN - shown]
        shown += len(pairs)
        best = max(p.score for p in pairs_of[n])
        strip = "".join(_strip_image(path, thumbs[path]) for path in groups[n])
        body.append(
            f'<section class=cluster id="cluster-{rank}"><h2>Cluster {rank} · {len(groups[n])} images · '
            f"best score {best:.3f}</h2><div class=strip>{strip}</div>"
            + "".join(pair_row(p, thumbs, outcome.threshold, outcome.new) for p in pairs)
            + "</section>"
        )
    if outcome.accepted:
        body.append(
            f"<details class=accepted><summary>{len(outcome.accepted)} accepted pair(s) "
            "(allow list or baseline)</summary>"
            + "".join(pair_row(p, thumbs, outcome.threshold) for p in outcome.accepted[:MAX_PAIRS_SHOWN])
            + "</details>"
        )
    if outcome.errors:
        rows = "".join(
            f"<tr><td><code>{escape(e.path)}</code></td><td>{escape(e.reason)}</td></tr>"
            for e in outcome.errors
        )
        body.append(
            f"<details open><summary>{len(outcome.errors)} unreadable image(s)</summary>"
            f"<table>{rows}</table></details>"
        )
    count = len(blocking)
    headline = (
        f"{count} near-duplicate pair{'s' if count != 1 else ''} in {len(groups)} "
        f"cluster{'s' if len(groups) != 1 else ''}"
        if count
        else "No near-duplicate pairs"
    )
    return page(title, headline, _meta(outcome), "".join(body))


def pair_row(pair: Pair, thumbs: Thumbs, threshold: float, new: frozenset[str] = frozenset()) -> str:
    """Two images side by side with the score between them, and the way to accept the pair."""
    verdict = "identical bytes" if pair.exact else f"threshold {threshold:.2f}"
    reason, step = "", ""
    if pair.acceptance is not None:
        reason = f"<div class=reason>{escape(acceptance_text(pair))}</div>"
    else:
        step = f"<div class=next>If intended: <code>{escape(allow_command(pair))}</code></div>"
    css = "pair accepted" if pair.acceptance is not None else "pair"
    a_box = pair.evidence.a_box if pair.evidence is not None else None
    b_box = pair.evidence.b_box if pair.evidence is not None else None
    return (
        f'<div class="{css}" data-score="{pair.score:.4f}">'
        f"{_figure(pair.a, thumbs[pair.a], pair.a in new, a_box)}"
        f"<div class=score><b>{pair.score:.3f}</b><span>{verdict}</span>{reason}</div>"
        f"{_figure(pair.b, thumbs[pair.b], pair.b in new, b_box)}{_proof(pair)}{step}</div>"
    )


def _proof(pair: Pair) -> str:
    """What the pixels proved, in words under the pair (the figures outline the regions)."""
    text = evidence_text(pair)
    return f"<div class=next>{escape(text)}</div>" if text else ""


def page(title: str, headline: str, meta: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<meta http-equiv=Content-Security-Policy "
        "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(headline)}</h1><p class=meta>{meta}</p>{body}</body></html>\n"
    )


def calibration_section(cal: Calibration, thumbs: Thumbs) -> str:
    """The score histogram as an inline SVG chart, then the pairs either side of the threshold."""
    parts = [f"<h2>Nearest-neighbour scores of {cal.images} images</h2>", histogram_svg(cal)]
    parts.append("<pre>" + escape("\n".join(cal.reasoning)) + "</pre>")
    for label, pairs in (
        ("Just at or above the threshold (reported)", cal.just_above),
        ("Just below the threshold (not reported)", cal.just_below),
    ):
        parts.append(f"<h2>{escape(label)}</h2>")
        parts.append("".join(pair_row(p, thumbs, cal.threshold) for p in pairs) or "<p class=meta>none</p>")
    return "".join(parts)


def histogram_svg(cal: Calibration) -> str:
    """Bars per score bin, the current threshold as a red line, the suggestion as a green one."""
    width, height, pad = 640, 200, 28
    bins = cal.bins
    top = max((b.count for b in bins), default=1) or 1
    bar_w = (width - 2 * pad) / max(1, len(bins))
    lo, hi = bins[0].low, bins[-1].high

    def x_of(score: float) -> float:
        return pad + (score - lo) / (hi - lo) * (width - 2 * pad)

    shapes = []
    for i, b in enumerate(bins):
        h = (height - 2 * pad) * b.count / top
        shapes.append(
            f'<rect x="{pad + i * bar_w + 1:.1f}" y="{height - pad - h:.1f}" width="{bar_w - 2:.1f}" '
            f'height="{h:.1f}" fill="#57606a"><title>{b.label}: {b.count}</title></rect>'
        )
    for score, colour, name in (
        (cal.threshold, "#cf222e", "threshold"),
        (cal.suggested, "#1a7f37", "suggested"),
    ):
        x = x_of(score)
        shapes.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad - 10}" y2="{height - pad}" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
        y = pad - 14 if name == "threshold" else pad - 2
        shapes.append(
            f'<text x="{x + 3:.1f}" y="{y}" font-size="11" fill="{colour}">{name} {score:.2f}</text>'
        )
    for tick in _ticks(lo, hi):
        shapes.append(
            f'<text x="{x_of(tick):.1f}" y="{height - 8}" font-size="11" text-anchor="middle" '
            f'fill="currentColor">{tick:.2f}</text>'
        )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="histogram of nearest-neighbour scores">{"".join(shapes)}</svg>'
    )


def _ticks(lo: float, hi: float) -> Iterable[float]:
    step = 0.1
    tick = round(lo / step) * step
    while tick <= hi + 1e-9:
        if tick >= lo - 1e-9:
            yield tick
        tick += step


def _meta(outcome: Outcome) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return escape(
        f"{len(outcome.keys)} images · backend {outcome.backend}/{outcome.model} · "
        f"threshold {outcome.threshold:.2f} · generated {stamp}"
    )


def _figure(
    path: str, thumb: Thumb, new: bool = False, region: tuple[float, float, float, float] | None = None
) -> str:
    """A thumbnail with its caption; `region` (fractions x0, y0, x1, y1): the part of the
    picture the verifier matched with the other one, outlined and the rest dimmed."""
    name = escape(path)
    badge = "<b class=new>new in this commit</b> " if new else ""
    if thumb.data_uri is None:
        return (
            f"<figure><div class=missing>cannot show: {escape(thumb.problem)}</div>"
            f"<figcaption>{badge}<code>{name}</code></figcaption></figure>"
        )
    img = f'<img src="{thumb.data_uri}" alt="{name}">'
    if region is not None:
        x0, y0, x1, y1 = (100 * max(0.0, min(1.0, v)) for v in region)
        box = f"left:{x0:.1f}%;top:{y0:.1f}%;width:{x1 - x0:.1f}%;height:{y1 - y0:.1f}%"
        img = f'<span class=frame>{img}<i class=region style="{box}" title="matched region"></i></span>'
    return (
        f"<figure>{img}"
        f"<figcaption>{badge}<code>{name}</code>{thumb.width}×{thumb.height} · {_size(thumb.size_bytes)}"
        "</figcaption></figure>"
    )


def _strip_image(path: str, thumb: Thumb) -> str:
    if thumb.data_uri is None:
        return ""
    return f'<img src="{thumb.data_uri}" alt="{escape(path)}" title="{escape(path)}">'


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"
