"""Verify a candidate pair on its pixels: place one picture in the other, then compare cells.

Coarse (48 px, every scale and shift) -> medium (96 px, the best few refined) -> fine (192 px:
cells compared, the shift settled within a pixel by the cells themselves) -> finest (up to
384 px, where both pictures have that much detail: textures and small print only tell apart
there).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dupgate_hook.verify import agree
from dupgate_hook.verify.align import Placement, Search, coarse_placements, resized, working_size
from dupgate_hook.verify.dense import Mapping, refine, warp
from dupgate_hook.verify.fields import structure_field
from dupgate_hook.verify.pixels import SIDE

MEDIUM_SIDE = 96
FINE_SIDE = 192
FINEST_SIDE = SIDE  # the decoded pictures' size
REFINE = (1 / 1.035, 1.0, 1.035)  # half a coarse scale step either way
RADIUS = 3  # medium pixels around the coarse placement (a coarse pixel is two)
FRAMES = 2  # placements whose cells are compared, besides the same framing
SAME_ASPECT = 0.02  # aspect ratios this close: the same framing (scale 1, no shift) is tried too
TRIM = 5
REFINE_ROUNDS = 2

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Frame:
    """Both pictures in one pixel grid at long side `side`: the placement, the dense mapping
    from the fixed picture's pixels to the moving one's (a is fixed when scale <= 1), the
    overlap rectangle in each picture (fractions x0, y0, x1, y1) and its cells."""

    placement: Placement
    side: int
    mapping: Mapping
    a_box: Box
    b_box: Box
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


def _pictures(a: np.ndarray, b: np.ndarray, scale: float, side: int) -> tuple[np.ndarray, np.ndarray]:
    """(fixed, moving) float RGB at long side `side`, the moving one resampled by `scale`."""
    aw, ah = working_size(a, side)
    bw, bh = working_size(b, side)
    if scale <= 1:
        return resized(a, aw, ah), resized(b, max(4, round(bw * scale)), max(4, round(bh * scale)))
    return resized(b, bw, bh), resized(a, max(4, round(aw / scale)), max(4, round(ah / scale)))


def frame(a: np.ndarray, b: np.ndarray, placement: Placement, side: float, fine: int) -> Frame:
    """The cells of a placement (offsets in a's pixels at long side `side`) at long side
    `fine`, after dense refinement of the mapping."""
    k = fine / side
    s, dx, dy = placement.scale, placement.dx * k, placement.dy * k
    fixed, moving = _pictures(a, b, s, fine)
    mapping = Mapping.shift(dx, dy) if s <= 1 else Mapping.shift(-dx / s, -dy / s)
    return _compared(placement, fine, fixed, moving, mapping)


def _compared(
    placement: Placement, side: int, fixed: np.ndarray, moving: np.ndarray, mapping: Mapping
) -> Frame:
    for _ in range(REFINE_ROUNDS):
        mapping = refine(fixed, moving, mapping)
    warped, inside = warp(moving, mapping, fixed.shape[:2])
    rows, cols = np.nonzero(inside)
    fh, fw = fixed.shape[:2]
    mh, mw = moving.shape[:2]
    if len(rows) == 0:
        y0 = y1 = x0 = x1 = 0
    else:
        y0, y1, x0, x1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    f_box = (x0 / fw, y0 / fh, x1 / fw, y1 / fh)  # the overlap as reported: before the trim
    corners = mapping.apply(np.array([[x0, y0], [x1, y1]], dtype=np.float64))
    m_box = (
        float(np.clip(corners[0, 0] / mw, 0, 1)),
        float(np.clip(corners[0, 1] / mh, 0, 1)),
        float(np.clip(corners[1, 0] / mw, 0, 1)),
        float(np.clip(corners[1, 1] / mh, 0, 1)),
    )
    # A border or letterbox meets the overlap's edge: its step would count as structure that
    # the other picture lacks, so the outermost pixels are left out.
    trim = TRIM if min(y1 - y0, x1 - x0) > 4 * TRIM + 8 else 0
    y0, y1, x0, x1 = y0 + trim, y1 - trim, x0 + trim, x1 - trim
    if y1 - y0 < 4 or x1 - x0 < 4:
        y0, y1, x0, x1 = 0, min(4, fh), 0, min(4, fw)
    f_rgb, w_rgb = fixed[y0:y1, x0:x1], warped[y0:y1, x0:x1]
    cells = agree.cell_map(structure_field(f_rgb), structure_field(w_rgb), f_rgb, w_rgb, inside[y0:y1, x0:x1])
    if placement.scale <= 1:  # fixed is a
        return Frame(placement, side, mapping, f_box, m_box, cells)
    return Frame(placement, side, mapping, m_box, f_box, cells)


def fine_side(a: np.ndarray, b: np.ndarray) -> int:
    """FINE_SIDE, or the smaller picture's own long side where that is less (magnifying a
    picture only blurs it)."""
    return int(min(FINE_SIDE, max(a.shape[:2]), max(b.shape[:2])))


def finest(a: np.ndarray, b: np.ndarray, fr: Frame) -> Frame | None:
    """The frame again at the finest size both pictures' overlaps have (up to FINEST_SIDE),
    or None when that is not finer than the frame's own."""
    a_long = max((fr.a_box[2] - fr.a_box[0]) * a.shape[1], (fr.a_box[3] - fr.a_box[1]) * a.shape[0])
    b_long = max((fr.b_box[2] - fr.b_box[0]) * b.shape[1], (fr.b_box[3] - fr.b_box[1]) * b.shape[0])
    share = max(fr.a_box[2] - fr.a_box[0], fr.a_box[3] - fr.a_box[1])  # of a's long side
    side = int(min(FINEST_SIDE, max(a.shape[:2]), min(a_long, b_long) / max(share, 1e-6)))
    if side < 1.4 * fr.side:
        return None
    fixed, moving = _pictures(a, b, fr.placement.scale, side)
    return _compared(fr.placement, side, fixed, moving, fr.mapping.scaled(side / fr.side))


def frames(a: np.ndarray, b: np.ndarray) -> Iterator[Frame]:
    """The placements worth comparing: the best refined ones, and the same framing when the
    two pictures have one aspect ratio (most edits keep the frame; a banner's strong edges can
    outweigh a faint texture in the search), best first."""
    best = [p for p in refined(a, b, coarse_placements(a, b)) if np.isfinite(p.ncc)][:FRAMES]
    aspect_a, aspect_b = a.shape[1] / a.shape[0], b.shape[1] / b.shape[0]
    if abs(np.log(aspect_a / aspect_b)) < SAME_ASPECT and not any(
        abs(p.scale - 1) < 0.01 and abs(p.dx) < 1 and abs(p.dy) < 1 for p in best
    ):
        best.append(Placement(1.0, 0.0, 0.0, 0.0))
    fine = fine_side(a, b)
    for p in best:  # lazily: a caller that has its proof stops paying
        yield frame(a, b, p, MEDIUM_SIDE, fine)
