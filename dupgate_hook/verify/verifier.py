"""Verify a candidate pair on its pixels: place one picture in the other, then compare cells."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dupgate_hook.verify import agree
from dupgate_hook.verify.align import Placement, Search, coarse_placements, resized, working_size
from dupgate_hook.verify.fields import structure_field

MEDIUM_SIDE = 96
FINE_SIDE = 192
REFINE = (1 / 1.035, 1.0, 1.035)  # half a coarse scale step either way
RADIUS = 3  # medium pixels around the coarse placement (a coarse pixel is two)
FRAMES = 2  # placements whose cells are compared
TRIM = 5


@dataclass(frozen=True)
class Frame:
    """Both pictures in one pixel grid at the fine size: the overlap rectangle and its cells."""

    placement: Placement
    a_box: tuple[float, float, float, float]  # overlap in a, fractions (x0, y0, x1, y1)
    b_box: tuple[float, float, float, float]
    cells: agree.CellMap


def refined(a: np.ndarray, b: np.ndarray, coarse: list[Placement]) -> list[Placement]:
    """Each coarse placement refined at the medium size, best first."""
    search = Search(a, b, MEDIUM_SIDE)
    out = []
    for c in coarse:
        # never across 1: that would swap which picture is fixed, and `centre` with it
        near = [c.scale * k for k in REFINE if (c.scale * k <= 1) == (c.scale <= 1)]
        out.append(max((search.place(s, c.centre, RADIUS) for s in near), key=lambda p: p.ncc))
    return sorted(out, key=lambda p: -p.ncc)


def frame(a: np.ndarray, b: np.ndarray, placement: Placement, side: float) -> Frame:
    """The cells of a placement (offsets in a's pixels at long side `side`) at FINE_SIDE, or
    at the smaller picture's own size where that is less (magnifying it would blur it)."""
    fine = min(FINE_SIDE, max(a.shape[:2]), max(b.shape[:2]))
    k = fine / side
    s, dx, dy = placement.scale, placement.dx * k, placement.dy * k
    aw, ah = working_size(a, fine)
    bw, bh = working_size(b, fine)
    if s <= 1:
        fixed, moving = resized(a, aw, ah), resized(b, max(4, round(bw * s)), max(4, round(bh * s)))
        oy, ox = round(dy), round(dx)
    else:
        fixed, moving = resized(b, bw, bh), resized(a, max(4, round(aw / s)), max(4, round(ah / s)))
        oy, ox = round(-dy / s), round(-dx / s)
    # The medium size fixes the shift to within a fine pixel or so: the fine cells decide
    # between the shifts around it (fine structure needs the exact one).
    options = [_cells_at(fixed, moving, oy + ey, ox + ex) for ey in (-1, 0, 1) for ex in (-1, 0, 1)]
    f_box, m_box, cells = max(options, key=lambda o: _agreeing(o[2]))
    if s <= 1:  # fixed is a
        return Frame(placement, f_box, m_box, cells)
    return Frame(placement, m_box, f_box, cells)


Box = tuple[float, float, float, float]


def _agreeing(cells: agree.CellMap) -> float:
    return float((cells.agree & cells.informative).sum() / max(1, cells.informative.sum()))


def _cells_at(fixed: np.ndarray, moving: np.ndarray, oy: int, ox: int) -> tuple[Box, Box, agree.CellMap]:
    """The overlap boxes (fractions of each picture) and cells of `moving` at (oy, ox) in `fixed`."""
    fh, fw = fixed.shape[:2]
    mh, mw = moving.shape[:2]
    y0, y1 = max(0, oy), min(fh, oy + mh)
    x0, x1 = max(0, ox), min(fw, ox + mw)
    f_box = (x0 / fw, y0 / fh, x1 / fw, y1 / fh)  # the overlap as reported: before the trim
    m_box = ((x0 - ox) / mw, (y0 - oy) / mh, (x1 - ox) / mw, (y1 - oy) / mh)
    # A border or letterbox meets the overlap's edge: its step would count as structure that
    # the other picture lacks, so the outermost pixels are left out.
    trim = TRIM if min(y1 - y0, x1 - x0) > 4 * TRIM + 8 else 0
    y0, y1, x0, x1 = y0 + trim, y1 - trim, x0 + trim, x1 - trim
    if y1 - y0 < 4 or x1 - x0 < 4:
        y0, y1, x0, x1 = max(0, oy), max(0, oy) + 4, max(0, ox), max(0, ox) + 4
        y1, x1 = min(y1, fh, oy + mh), min(x1, fw, ox + mw)
    f_rgb = fixed[y0:y1, x0:x1]
    m_rgb = moving[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    return f_box, m_box, agree.cell_map(structure_field(f_rgb), structure_field(m_rgb), f_rgb, m_rgb)


def frames(a: np.ndarray, b: np.ndarray) -> list[Frame]:
    best = refined(a, b, coarse_placements(a, b))[:FRAMES]
    return [frame(a, b, p, MEDIUM_SIDE) for p in best]
