"""The verdict on one pair and what it rests on, in words a report can show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dupgate_hook.verify import agree
from dupgate_hook.verify.verifier import Frame, finest, frames

PROVED, REJECTED, UNVERIFIED = "proved", "rejected", "unverified"
# The rule (docs/verification.md has the sets each was chosen on):
MIN_CELLS = 8  # informative cells outside the overlay for the structure rule to speak
OUTSIDE_AGREE = 0.95  # share of them that must agree
ALL_AGREE = 0.6  # share of all informative cells, a blob overlay included, that must agree
COLOUR_GAP = 0.005  # pictures with too little structure: median cell colour gap (0..1)
COLOUR_MISFIT = 0.08  # rms (0..1) by which no one colour map relates the two pictures' cells


@dataclass(frozen=True)
class Evidence:
    """What the pixels showed about a pair (a, b)."""

    verdict: str  # PROVED, REJECTED or UNVERIFIED
    rule: str  # "structure", "colour" (too little structure), or why it was not verified
    scale: float = 0.0  # b's pixels per pixel of a, in the files' own sizes
    a_box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # the overlap in a (x0, y0, x1, y1)
    b_box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    agreement: float = 0.0  # share of the informative overlap (outside the overlay) that agrees
    overlay: float = 0.0  # share of the overlap left out as one overlay

    @property
    def proved(self) -> bool:
        return self.verdict == PROVED

    def sentence(self, a: str, b: str) -> str:
        """'b.jpg is a.png cropped to 70%, scaled 0.50x; 94% of the overlap agrees'."""
        if self.verdict == UNVERIFIED:
            return f"not verified: {self.rule}"
        shown_a, shown_b = _area(self.a_box), _area(self.b_box)
        # Told from the side of the copy: the picture more of which is the overlap.
        copy, original, scale, shown_o, shown_c = (b, a, self.scale, shown_a, shown_b)
        whole = shown_a >= 0.97 and shown_b >= 0.97
        if (shown_b < shown_a and not whole) or (whole and self.scale > 1):  # else: the smaller file
            copy, original, scale, shown_o, shown_c = (a, b, 1 / max(self.scale, 1e-9), shown_b, shown_a)
        parts = [f"{copy} is {original}"]
        if shown_o < 0.97:
            parts.append(f"cropped to {shown_o:.0%}")
        parts.append(f"scaled {scale:.2f}x")
        if shown_c < 0.97:
            parts.append(f"with a border or letterbox ({1 - shown_c:.0%} of it)")
        text = ", ".join(parts)
        if self.rule == "no placement":
            return "rejected: no scale and shift shows one picture in the other"
        if self.rule == "colour":
            text += "; little structure to compare, its colours agree"
        else:
            text += f"; {self.agreement:.0%} of the overlap agrees"
        if self.overlay >= 0.005:
            text += f" (one overlay of {self.overlay:.0%} left out)"
        if self.verdict == REJECTED:
            text = "rejected: " + text
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "rule": self.rule,
            "scale": round(self.scale, 4),
            "a_region": [round(v, 4) for v in self.a_box],
            "b_region": [round(v, 4) for v in self.b_box],
            "agreement": round(self.agreement, 4),
            "overlay": round(self.overlay, 4),
        }


def unavailable(why: str) -> Evidence:
    return Evidence(UNVERIFIED, why)


def _area(box: tuple[float, float, float, float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def judge(fr: Frame) -> tuple[str, str, float, float]:
    """(verdict, rule, agreement, overlay share) of one placement.

    The colours must be related by one colour map (a recolour is one; a mosaic of other
    colours on the same grid is not). One overlay may be left out. A banner (a band across
    the whole width) is left out whole. Any other overlay must be one piece (a logo, a
    caption) and still leave most of the structure agreeing: two eyes that differ, or a
    sprite and a logo, are not one overlay."""
    cells = fr.cells
    overlay = agree.best_overlay(cells)
    outside = ~overlay.mask(cells.informative.shape)
    informative = cells.informative
    counted = informative & outside
    agreement = float((counted & cells.agree).sum() / max(1, counted.sum()))
    overall = float((informative & cells.agree).sum() / max(1, informative.sum()))
    share = overlay.cells / max(1, cells.cells)
    if counted.sum() >= MIN_CELLS:
        one_map = agree.colour_misfit(cells, outside) <= COLOUR_MISFIT
        ok = agreement >= OUTSIDE_AGREE and one_map
        if overlay.cells and not agree.is_band(overlay, cells):
            differing = overlay.mask(informative.shape) & informative & ~cells.agree
            ok = ok and overall >= ALL_AGREE and agree.pieces(differing) <= 1
        return (PROVED if ok else REJECTED), "structure", agreement, share
    gap = float(np.median(cells.colour_gap[outside])) if outside.any() else 1.0
    return (PROVED if gap <= COLOUR_GAP else REJECTED), "colour", agreement, share


def verify_pictures(
    a: np.ndarray, b: np.ndarray, a_size: tuple[int, int], b_size: tuple[int, int]
) -> Evidence:
    """The evidence for pictures a and b (uint8 RGB, as decoded for verification) whose files
    are a_size and b_size (width, height) pixels: the first placement that proves them one
    picture (at the fine size and, where both have the detail, at the finest), else the best
    rejected one."""
    best: Evidence | None = None
    for fr in frames(a, b):
        verdict, rule, agreement, overlay = judge(fr)
        if verdict == PROVED:
            closer = finest(a, b, fr)
            if closer is not None:
                verdict, rule, agreement, overlay = judge(closer)
                fr = closer
        a_w = (fr.a_box[2] - fr.a_box[0]) * a_size[0]
        b_w = (fr.b_box[2] - fr.b_box[0]) * b_size[0]
        scale = b_w / a_w if a_w > 0 else 0.0
        evidence = Evidence(verdict, rule, scale, fr.a_box, fr.b_box, agreement, overlay)
        if evidence.proved:
            return evidence
        if best is None or evidence.agreement > best.agreement:
            best = evidence
    if best is None:  # no scale and shift shows one picture in the other at all
        return Evidence(REJECTED, "no placement")
    return best
